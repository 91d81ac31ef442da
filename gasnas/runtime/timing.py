"""Timing networks: one code path for CPU and GPU, for torch eager and ONNX Runtime.

Every timing runs ``warmup`` untimed calls, then ``repeats`` timed calls, and reports the median (and p90/p99)
in milliseconds. On CPU the thread count is fixed for the measurement; on CUDA torch is timed with CUDA events.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from gasnas.runtime.export import _shapes
from gasnas.runtime.providers import ProviderChoice, choose_providers

__all__ = ["Timing", "summarize", "time_torch", "time_onnxruntime", "torch_threads", "ort_session", "SPREAD_WARNING"]

#: the slowest timed call at this many times the fastest or more: the measurement is flagged as unsteady
SPREAD_WARNING = 3.0


@dataclass(frozen=True)
class Timing:
    """A latency measurement in ms (batch as given), with how it was measured."""

    median_ms: float
    mean_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    repeats: int
    warmup: int
    runtime: str
    device: str
    threads: int
    provider: str = ""
    batch: int = 1
    max_ms: float = float("nan")

    @property
    def fps(self) -> float:
        return 1000.0 * self.batch / self.median_ms

    @property
    def spread(self) -> float:
        """The slowest timed call over the fastest (1: every call took the same time)."""
        return self.max_ms / self.min_ms if self.min_ms > 0 else float("nan")

    def spread_warning(self) -> str | None:
        """A warning when :attr:`spread` reaches :data:`SPREAD_WARNING`: the calls did not take a steady time,
        so the median may not be what the network takes."""
        if not self.spread >= SPREAD_WARNING:
            return None
        return (f"the {self.repeats} timed calls took {self.min_ms:.3f} to {self.max_ms:.3f} ms (the slowest "
                f"{self.spread:.1f}x the fastest; median {self.median_ms:.3f} ms): the machine was busy or changed "
                "speed while timing, so the median may not be what this network takes; time it again on an idle "
                "machine, with more warm-up calls and a fixed thread count")

    def to_dict(self) -> dict:
        return {**asdict(self), "fps": self.fps, "spread": self.spread}


def summarize(samples_ms: list[float], **how) -> Timing:
    arr = np.asarray(samples_ms, dtype=np.float64)
    return Timing(float(np.median(arr)), float(arr.mean()), float(np.percentile(arr, 90)),
                  float(np.percentile(arr, 99)), float(arr.min()), len(samples_ms), max_ms=float(arr.max()), **how)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Fix torch's intra-op thread count for a measurement (``None``: leave as is)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def _run(fn: Callable[[], object], warmup: int, repeats: int, clock: Callable[[Callable[[], object]], float]) -> list[float]:
    for _ in range(warmup):
        fn()
    return [clock(fn) for _ in range(repeats)]


def _wall(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


def _cuda_events(fn: Callable[[], object]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return float(start.elapsed_time(end))


@torch.no_grad()
def time_torch(model: nn.Module, input_shape: tuple[int, ...] | Sequence[tuple[int, ...]], *, device: str = "cpu",
               dtype: str = "fp32",
               warmup: int = 10, repeats: int = 50, threads: int | None = None) -> Timing:
    """Median latency of ``model`` in PyTorch eager mode (CUDA events on a GPU, wall clock on CPU)."""
    dev = torch.device(device)
    torch_dtype = {"fp32": torch.float32, "fp16": torch.float16}[dtype]
    if dtype == "fp16" and dev.type != "cuda":
        from gasnas.errors import LatencyError

        raise LatencyError("fp16 timing needs a CUDA device; use --dtype fp32 on CPU")
    model = model.eval().to(dev, torch_dtype)
    shapes = _shapes(input_shape)
    xs = [torch.randn(*shape, device=dev, dtype=torch_dtype) for shape in shapes]
    with torch_threads(threads) as n:
        if dev.type == "cuda":
            torch.cuda.synchronize()
            samples = _run(lambda: model(*xs), warmup, repeats, _cuda_events)
        else:
            samples = _run(lambda: model(*xs), warmup, repeats, _wall)
    return summarize(samples, warmup=warmup, runtime="torch", device=str(dev), threads=n, provider="eager",
                     batch=shapes[0][0])


def ort_session(onnx_model: bytes, device: str = "cpu", *, threads: int | None = None,
                providers: ProviderChoice | None = None):
    """An ONNX Runtime session with the providers that really load for ``device`` and a fixed thread count."""
    import onnxruntime as ort

    providers = providers or choose_providers(device)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(onnx_model, options, providers=list(providers.providers))
    return session, providers


def time_onnxruntime(onnx_model: bytes, input_shape: tuple[int, ...] | Sequence[tuple[int, ...]], *,
                     device: str = "cpu",
                     dtype: str = "fp32", warmup: int = 10, repeats: int = 50, threads: int | None = None,
                     providers: ProviderChoice | None = None) -> Timing:
    """Median latency of an ONNX model in ONNX Runtime with the best provider that loads for ``device``."""
    session, chosen = ort_session(onnx_model, device, threads=threads, providers=providers)
    np_dtype = {"fp32": np.float32, "fp16": np.float16}[dtype]
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.standard_normal(shape).astype(np_dtype)
             for i, shape in zip(session.get_inputs(), _shapes(input_shape))}
    used = session.get_providers()[0]
    if used.startswith("CPU"):
        samples = _run(lambda: session.run(None, feeds), warmup, repeats, _wall)
    else:  # GPU providers: bind I/O on the device so host copies are not what gets timed
        import onnxruntime as ort

        binding = session.io_binding()
        index = int(device.split(":")[1]) if ":" in device else 0
        for name, value in feeds.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value, "cuda", index))
        for out in session.get_outputs():
            binding.bind_output(out.name, "cuda")

        def call() -> None:
            session.run_with_iobinding(binding)

        samples = _run(call, warmup, repeats, _wall)
    threads_used = threads or int(session.get_session_options().intra_op_num_threads) or torch.get_num_threads()
    return summarize(samples, warmup=warmup, runtime="onnxruntime", device=device, threads=threads_used,
                     provider=used if not chosen.skipped else chosen.describe(), batch=_shapes(input_shape)[0][0])


def median_ms(samples: list[float]) -> float:
    return float(statistics.median(samples))
