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


# -- the timing statistic and clock: decided by fake clocks, never by the machine ------------------------------------

def _scripted_clocks(monkeypatch, wall_ms: list[float], thread_ms: list[float],
                     process_ms: list[float] | None = None) -> None:
    """Replace the CPU clocks: timed call k takes ``wall_ms[k]`` by the wall clock, ``thread_ms[k]`` of the calling
    thread's CPU time and ``process_ms[k]`` (default: the thread's) of the process's.

    Each clock is read twice per call (start, end); warm-up calls read no clock."""
    from gasnas.runtime import timing

    def clock(deltas: list[float]):
        readings = iter([v for k, d in enumerate(deltas) for v in (k * 1.0, k * 1.0 + d / 1000)])
        return lambda: next(readings)

    monkeypatch.setitem(timing.CPU_CLOCKS, "wall", clock(wall_ms))
    monkeypatch.setitem(timing.CPU_CLOCKS, "thread", clock(thread_ms))
    monkeypatch.setitem(timing.CPU_CLOCKS, "process", clock(thread_ms if process_ms is None else process_ms))


def test_statistics_of_timed_calls():
    from gasnas.runtime.timing import STATISTICS, statistic_of

    calls = [5.0, 1.0, 2.0, 4.0, 3.0, 100.0]
    assert {s: statistic_of(calls, s) for s in STATISTICS} == pytest.approx(
        {"median": 3.5, "mean": 115 / 6, "min": 1.0, "p10": 1.5, "p25": 2.25})
    with pytest.raises(ValueError, match="unknown timing statistic 'p5'; expected one of median, mean, min, p10"):
        statistic_of(calls, "p5")


def test_each_call_is_read_by_both_clocks_and_the_statistic_of_the_chosen_one_is_kept(monkeypatch):
    wall = [9.0, 2.2, 2.1, 7.5, 2.4]  # a shared machine: other processes took the core away in calls 0 and 3
    thread = [2.0, 2.1, 2.0, 2.05, 2.2]
    _scripted_clocks(monkeypatch, wall, thread)
    t = time_torch(_net(), (1, 3, 8, 8), warmup=3, repeats=5, threads=1, clock="thread", statistic="min")
    assert t.clock == "thread" and t.statistic == "min"
    assert t.samples["wall"] == pytest.approx(wall) and t.samples["thread"] == pytest.approx(thread)
    assert t.ms == pytest.approx(2.0) and t.min_ms == pytest.approx(2.0) and t.median_ms == pytest.approx(2.05)
    assert t.of("median", "wall") == pytest.approx(2.4) and t.of("p25") == pytest.approx(2.0)
    assert t.fps == pytest.approx(1000 / 2.0)
    data = t.to_dict()
    assert "samples" not in data and data["ms"] == pytest.approx(2.0) and data["clock"] == "thread"

    _scripted_clocks(monkeypatch, wall, thread)
    t = time_torch(_net(), (1, 3, 8, 8), warmup=0, repeats=5, threads=1)  # the defaults: wall-clock median
    assert (t.clock, t.statistic) == ("wall", "median") and t.ms == pytest.approx(2.4)
    _scripted_clocks(monkeypatch, wall, thread)
    t = time_torch(_net(), (1, 3, 8, 8), warmup=0, repeats=5, threads=1, clock="auto", statistic="p25")
    assert t.clock == "thread" and t.ms == pytest.approx(2.0)


def test_a_thread_clock_that_did_not_do_the_work_is_refused(monkeypatch):
    """A runtime computing on other threads leaves the calling thread idle: its CPU time is not the latency. A busy
    machine (wall time three times the CPU time) is not mistaken for that."""
    _scripted_clocks(monkeypatch, [4.0, 4.1, 4.0], [0.3, 0.3, 0.2], process_ms=[4.0, 4.0, 3.9])
    with pytest.raises(LatencyError, match="computed on other threads .* clock 'thread' cannot time it"):
        time_torch(_net(), (1, 3, 8, 8), warmup=0, repeats=3, threads=1, clock="thread")
    _scripted_clocks(monkeypatch, [4.0, 4.1, 4.0], [0.3, 0.3, 0.2], process_ms=[4.0, 4.0, 3.9])
    assert time_torch(_net(), (1, 3, 8, 8), warmup=0, repeats=3, threads=1, clock="wall").ms == pytest.approx(4.0)
    _scripted_clocks(monkeypatch, [12.0, 13.0, 12.5], [4.0, 4.1, 4.0])  # busy, but the thread did the work
    assert time_torch(_net(), (1, 3, 8, 8), warmup=0, repeats=3, threads=1, clock="thread").ms == pytest.approx(4.0)
    # another thread of the process (a progress bar) ran during two of the calls: the thread still did the work
    _scripted_clocks(monkeypatch, [0.05, 1.2, 1.1], [0.02, 0.02, 0.03], process_ms=[0.03, 1.1, 1.0])
    assert time_torch(_net(), (1, 3, 8, 8), warmup=0, repeats=3, threads=1, clock="thread").ms == pytest.approx(0.02)


def test_the_clock_is_resolved_per_device_and_thread_count():
    from gasnas.runtime.timing import resolve_clock

    assert resolve_clock("auto", "cpu", 1) == "thread"
    assert resolve_clock("auto", "cpu", 2) == "wall" and resolve_clock("auto", "cuda:0", 1) == "wall"
    assert resolve_clock("wall", "cpu", 1) == "wall" and resolve_clock("thread", "cpu", 1) == "thread"
    with pytest.raises(LatencyError, match="single-threaded CPU runs only, not 2 threads"):
        resolve_clock("thread", "cpu", 2)
    with pytest.raises(LatencyError, match="not a GPU"):
        resolve_clock("thread", "cuda", 1)
    with pytest.raises(LatencyError, match="unknown timing clock 'cpu'"):
        resolve_clock("cpu", "cpu", 1)
    with pytest.raises(ValueError, match="unknown timing statistic"):
        time_torch(_net(), (1, 3, 8, 8), statistic="fastest")


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_setaffinity"), reason="pinning needs Linux")
def test_pinning_holds_the_thread_on_one_core_and_restores_it():
    import os

    from gasnas.runtime.timing import pinned

    before = os.sched_getaffinity(0)
    core = max(before)
    with pinned(core):
        assert os.sched_getaffinity(0) == {core}
    assert os.sched_getaffinity(0) == before
    with pytest.raises(LatencyError, match="cannot pin the measurement to core 100000: this process may run on"):
        with pinned(100_000):
            pass
    t = time_onnxruntime(export_onnx(_net(), (1, 3, 8, 8)), (1, 3, 8, 8), warmup=1, repeats=3, threads=1,
                         clock="auto", statistic="min", core=core)
    assert t.clock == "thread" and set(t.samples) == {"wall", "thread", "process"}
    assert os.sched_getaffinity(0) == before
