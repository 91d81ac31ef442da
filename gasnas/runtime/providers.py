"""ONNX Runtime execution providers: which ones can really load here, probed before they are asked for.

ONNX Runtime lists providers that were compiled in (``get_available_providers``) even when their libraries
cannot load (no GPU, no CUDA libraries, no TensorRT). Asking for one then logs errors and silently falls back
to the CPU. So each provider is probed once with a one-node model, and a session asks only for providers that
loaded; each one skipped has a stated reason.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

__all__ = ["ProviderChoice", "choose_providers", "probe_provider"]

log = logging.getLogger(__name__)

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclass(frozen=True)
class ProviderChoice:
    """The providers to ask for, in order, and why any preferred one was left out."""

    providers: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        return self.providers[0]

    def describe(self) -> str:
        text = self.primary
        if self.skipped:
            text += " (" + "; ".join(f"{k} skipped: {v}" for k, v in self.skipped.items()) + ")"
        return text


@functools.lru_cache(maxsize=None)
def _tiny_model() -> bytes:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return onnx._serialize(model) if hasattr(onnx, "_serialize") else model.SerializeToString()


@functools.lru_cache(maxsize=None)
def probe_provider(name: str) -> str | None:
    """``None`` when ``name`` loads and runs a one-node model, else the reason it cannot."""
    import onnxruntime as ort

    if name not in ort.get_available_providers():
        return "not compiled into this onnxruntime build"
    if name in GPU_PROVIDERS:
        try:
            import torch

            if not torch.cuda.is_available():
                return "no CUDA device available"
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the probe's own failure is reported by us, not logged by ORT
    try:
        session = ort.InferenceSession(_tiny_model(), options, providers=[name, "CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - any failure means the provider is unusable
        return f"failed to load: {str(exc).splitlines()[0][:160]}"
    if session.get_providers()[0] != name:
        return "its libraries did not load (onnxruntime fell back to the CPU)"
    return None


def choose_providers(device: str, *, tensorrt: bool = True) -> ProviderChoice:
    """The providers for ``device`` (``cpu``, ``cuda``, ``cuda:N``): GPU providers that really load, then CPU."""
    wanted: list[str] = []
    if device.startswith("cuda"):
        wanted = list(GPU_PROVIDERS if tensorrt else GPU_PROVIDERS[1:])
    skipped: dict[str, str] = {}
    chosen: list[str] = []
    for name in wanted:
        reason = probe_provider(name)
        if reason is None:
            chosen.append(name)
        else:
            skipped[name] = reason
            log.warning("onnxruntime provider %s skipped: %s", name, reason)
    chosen.append("CPUExecutionProvider")
    return ProviderChoice(tuple(chosen), skipped)
