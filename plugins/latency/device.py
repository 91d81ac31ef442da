"""What a latency measurement is keyed by: the device's name, the runtime and its version, dtype, threads, and the
timing statistic and clock."""

from __future__ import annotations

import functools
import platform
import re

__all__ = ["device_name", "runtime_version", "slug", "describe_timing"]


@functools.lru_cache(maxsize=None)
def device_name(device: str) -> str:
    """``"NVIDIA H100 80GB HBM3"`` for a GPU; the CPU model (from /proc/cpuinfo) for the CPU."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def runtime_version(runtime: str) -> str:
    if runtime == "onnxruntime":
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}"
    import torch

    return f"torch {torch.__version__}"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def describe_timing(statistic: str, clock: str, calls: str | None = None) -> str:
    """``"min of thread CPU time, interleaved calls"`` -- how a latency was read, for reports."""
    read = f"{statistic} of {'thread CPU time' if clock == 'thread' else 'wall time'}"
    return f"{read}, {calls} calls" if calls else read
