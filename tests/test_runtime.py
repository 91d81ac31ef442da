"""The shared runtime code path: ONNX export, provider choice and timing (CPU here; the GPU path shares it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gasnas.errors import GasnasError, LatencyError
from gasnas.runtime import providers
from gasnas.runtime.export import export_onnx
from gasnas.runtime.timing import ort_session, time_onnxruntime, time_torch


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1)).eval()


def test_export_matches_torch_and_supports_dynamic_axes(tmp_path):
    net = _net()
    data = export_onnx(net, (1, 3, 16, 32), tmp_path / "n.onnx", dynamic_batch=True, dynamic_size=True)
    assert (tmp_path / "n.onnx").read_bytes() == data
    session, _ = ort_session(data, "cpu", threads=1)
    x = torch.randn(2, 3, 24, 40)
    (out,) = session.run(None, {"input": x.numpy()})
    assert out.shape == (2, 4, 24, 40)
    assert np.abs(out - net(x).detach().numpy()).max() < 1e-4
    with pytest.raises(GasnasError, match="opset 11 is too old"):
        export_onnx(net, (1, 3, 8, 8), opset=11)


def test_timings_report_how_they_were_measured():
    net = _net()
    t = time_torch(net, (1, 3, 16, 32), warmup=2, repeats=5, threads=1)
    assert t.runtime == "torch" and t.threads == 1 and t.repeats == 5 and t.median_ms > 0
    assert t.min_ms <= t.median_ms <= t.p99_ms
    o = time_onnxruntime(export_onnx(net, (1, 3, 16, 32)), (1, 3, 16, 32), warmup=2, repeats=5, threads=1)
    assert o.runtime == "onnxruntime" and o.provider == "CPUExecutionProvider" and o.threads == 1
    assert o.fps == pytest.approx(1000 / o.median_ms)
    with pytest.raises(LatencyError, match="fp16 timing needs a CUDA device"):
        time_torch(net, (1, 3, 8, 8), dtype="fp16")


def test_provider_that_cannot_load_falls_back_with_a_reason(monkeypatch):
    providers.probe_provider.cache_clear()
    choice = providers.choose_providers("cpu")
    assert choice.providers == ("CPUExecutionProvider",) and not choice.skipped
    if not torch.cuda.is_available():
        choice = providers.choose_providers("cuda")
        assert choice.providers == ("CPUExecutionProvider",)
        assert choice.skipped["CUDAExecutionProvider"] == "no CUDA device available"
        assert "CUDAExecutionProvider skipped: no CUDA device available" in choice.describe()
    # A provider whose libraries fail to load: onnxruntime falls back silently; the probe says so.
    import onnxruntime as ort

    class FallsBack:
        def __init__(self, *a, **k):
            pass

        def get_providers(self):
            return ["CPUExecutionProvider"]

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", FallsBack)
    providers.probe_provider.cache_clear()
    reason = providers.probe_provider("CUDAExecutionProvider")
    assert reason == "its libraries did not load (onnxruntime fell back to the CPU)"
    providers.probe_provider.cache_clear()



@pytest.mark.parametrize("name", ["export", "macs", "providers", "timing"])
def test_old_plugin_path_warns_and_gives_the_same_objects(name, monkeypatch):
    """``gasnas_plugins.runtime.*`` (the path before the move to the core) still works, and says where to go."""
    import importlib
    import sys

    import gasnas_plugins.runtime

    new = importlib.import_module(f"gasnas.runtime.{name}")
    monkeypatch.delitem(sys.modules, f"gasnas_plugins.runtime.{name}", raising=False)
    monkeypatch.delattr(gasnas_plugins.runtime, name, raising=False)
    with pytest.warns(DeprecationWarning, match=f"gasnas_plugins.runtime.{name} is deprecated; import gasnas.runtime"):
        old = importlib.import_module(f"gasnas_plugins.runtime.{name}")
    assert old is new
    assert all(getattr(old, n) is getattr(new, n) for n in new.__all__)
    if name == "timing":
        from gasnas_plugins.runtime.timing import _shapes, time_torch as old_time_torch  # private names too

        assert old_time_torch is time_torch and _shapes is importlib.import_module("gasnas.runtime.export")._shapes
