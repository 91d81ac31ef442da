"""Timing networks: one code path for CPU and GPU, for torch eager and ONNX Runtime.

Every timing runs ``warmup`` untimed calls, then ``repeats`` timed calls, and summarises them in milliseconds
(median, mean, min, p10, p25, p90, p99). Which of these *is* the latency is the ``statistic`` (:data:`STATISTICS`;
the median unless asked). On CPU the thread count is fixed for the measurement and every call is read by two
clocks at once: the wall clock and the calling thread's CPU time (``time.thread_time``). The ``clock`` chooses
which one the summary is of (:data:`CLOCKS`; ``wall`` unless asked; ``auto``: the thread's CPU time when one
thread computes on the CPU, else the wall clock -- the latency estimators' default). A single-threaded runtime
computes on the calling thread, so its CPU time is the latency without the time other processes of a shared
machine took the core away. Optionally the calling thread is pinned to one core for the measurement (``core``).
On CUDA torch is timed with CUDA events.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from gasnas.runtime.export import _shapes
from gasnas.runtime.providers import ProviderChoice, choose_providers

__all__ = ["Timing", "summarize", "time_torch", "time_onnxruntime", "torch_threads", "ort_session", "SPREAD_WARNING",
           "STATISTICS", "CLOCKS", "statistic_of", "resolve_clock", "pinned", "read_cpu"]

#: the slowest timed call at this many times the fastest or more: the measurement is flagged as unsteady
SPREAD_WARNING = 3.0

#: what a timing can report as the latency of its timed calls: the median, the mean, the fastest call, or a low
#: percentile (p10, p25: robust to the slow calls a shared machine adds, less exposed to one lucky call than min)
STATISTICS = ("median", "mean", "min", "p10", "p25")

#: which clock reads a CPU call: ``wall`` (time.perf_counter), ``thread`` (the calling thread's CPU time,
#: time.thread_time: single-threaded CPU timing only) or ``auto`` (``thread`` for one CPU thread, else ``wall``)
CLOCKS = ("auto", "wall", "thread")

#: the clocks a CPU call is read by, in seconds: injectable (tests replace them by fake clocks). ``process`` (the
#: whole process's CPU time) only checks that the calling thread did the work.
CPU_CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "thread": time.thread_time,
                                              "process": time.process_time}

#: the calling thread's CPU time under this share of the process's in every call means the runtime computed on
#: other threads than the calling one: the thread clock cannot time it (a share of the wall time would say
#: nothing: on a busy machine the wall time grows, the CPU times do not)
THREAD_SHARE_MIN = 0.5


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
    p10_ms: float = float("nan")
    p25_ms: float = float("nan")
    #: which summary is the latency (:data:`STATISTICS`), and the clock the summaries are of
    statistic: str = "median"
    clock: str = "wall"
    #: every timed call, in ms, by each clock that read it (on CPU: ``wall``, ``thread`` and ``process``)
    samples: Mapping[str, tuple[float, ...]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ms(self) -> float:
        """The latency: :attr:`statistic` of the timed calls, by :attr:`clock`."""
        return self.of(self.statistic)

    def of(self, statistic: str, clock: str | None = None) -> float:
        """``statistic`` of the timed calls by ``clock`` (default: this timing's clock)."""
        clock = clock or self.clock
        if clock == self.clock:
            summaries = {"median": self.median_ms, "mean": self.mean_ms, "min": self.min_ms, "p10": self.p10_ms,
                         "p25": self.p25_ms}
            if statistic not in summaries:
                statistic_of([0.0], statistic)  # the error naming the statistics
            return summaries[statistic]
        if clock not in self.samples:
            raise KeyError(f"no {clock} clock readings in this timing (clocks: {', '.join(self.samples) or '-'})")
        return statistic_of(self.samples[clock], statistic)

    @property
    def fps(self) -> float:
        return 1000.0 * self.batch / self.ms

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
        """The summaries (not the samples), the latency as ``ms``, fps and spread."""
        out = {k: v for k, v in asdict(self).items() if k != "samples"}
        return {**out, "ms": self.ms, "fps": self.fps, "spread": self.spread}


def statistic_of(samples_ms: Sequence[float], statistic: str) -> float:
    """One of :data:`STATISTICS` of ``samples_ms`` (percentiles interpolate linearly, as numpy does)."""
    if statistic not in STATISTICS:
        raise ValueError(f"unknown timing statistic {statistic!r}; expected one of {', '.join(STATISTICS)}")
    if not len(samples_ms):
        raise ValueError("no timed calls to summarise")
    arr = np.asarray(samples_ms, dtype=np.float64)
    if statistic == "median":
        return float(np.median(arr))
    if statistic == "mean":
        return float(arr.mean())
    if statistic == "min":
        return float(arr.min())
    return float(np.percentile(arr, int(statistic[1:])))


def summarize(samples_ms: Sequence[float] | Mapping[str, Sequence[float]], *, clock: str = "wall",
              statistic: str = "median", **how) -> Timing:
    """A :class:`Timing` of the calls in ``samples_ms``: a list (read by ``clock``) or ``{clock: list}`` for calls
    read by several clocks at once, summarised by ``clock``'s readings."""
    by_clock = dict(samples_ms) if isinstance(samples_ms, Mapping) else {clock: samples_ms}
    if clock not in by_clock:
        raise ValueError(f"no {clock} clock readings to summarise (clocks: {', '.join(by_clock)})")
    statistic_of(by_clock[clock] or [0.0], statistic)  # an unknown statistic fails here, before anything else
    arr = np.asarray(by_clock[clock], dtype=np.float64)
    return Timing(float(np.median(arr)), float(arr.mean()), float(np.percentile(arr, 90)),
                  float(np.percentile(arr, 99)), float(arr.min()), len(arr), max_ms=float(arr.max()),
                  p10_ms=float(np.percentile(arr, 10)), p25_ms=float(np.percentile(arr, 25)), statistic=statistic,
                  clock=clock, samples={k: tuple(map(float, v)) for k, v in by_clock.items()}, **how)


def resolve_clock(clock: str, device: str, threads: int) -> str:
    """The clock that times ``threads`` threads on ``device``: ``auto`` is ``thread`` for one CPU thread, else
    ``wall`` (a GPU is read by its own clock: CUDA events for torch, the wall clock for ONNX Runtime)."""
    from gasnas.errors import LatencyError

    if clock not in CLOCKS:
        raise LatencyError(f"unknown timing clock {clock!r}; expected one of {', '.join(CLOCKS)}")
    on_cpu = not str(device).startswith("cuda")
    if clock == "auto":
        return "thread" if on_cpu and threads == 1 else "wall"
    if clock == "thread" and not (on_cpu and threads == 1):
        where = "a GPU" if not on_cpu else f"{threads} threads"
        raise LatencyError(f"clock 'thread' (the calling thread's CPU time) times single-threaded CPU runs only, "
                           f"not {where}: use clock 'wall' (or 'auto'), or threads 1 on the CPU")
    return clock


@contextlib.contextmanager
def pinned(core: int | None) -> Iterator[None]:
    """Pin the calling thread to CPU ``core`` for a measurement (``None``: leave the OS to schedule it)."""
    if core is None:
        yield
        return
    from gasnas.errors import LatencyError

    if not hasattr(os, "sched_setaffinity"):
        raise LatencyError(f"pinning to core {core} needs os.sched_setaffinity (Linux); set core to null")
    before = os.sched_getaffinity(0)
    if core not in before:
        raise LatencyError(f"cannot pin the measurement to core {core}: this process may run on cores "
                           f"{', '.join(map(str, sorted(before)))}")
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


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


def _run(fn: Callable[[], object], warmup: int, repeats: int,
         read: Callable[[Callable[[], object]], dict[str, float]]) -> dict[str, list[float]]:
    """``warmup`` untimed calls, then ``repeats`` calls each read by ``read`` (ms by clock)."""
    for _ in range(warmup):
        fn()
    out: dict[str, list[float]] = {}
    for _ in range(repeats):
        for name, ms in read(fn).items():
            out.setdefault(name, []).append(ms)
    return out


def read_cpu(fn: Callable[[], object]) -> dict[str, float]:
    """One call read by the wall clock, the calling thread's CPU time (innermost) and the process's CPU time."""
    wall, thread, process = CPU_CLOCKS["wall"], CPU_CLOCKS["thread"], CPU_CLOCKS["process"]
    w0 = wall()
    p0 = process()
    t0 = thread()
    fn()
    t1 = thread()
    p1 = process()
    w1 = wall()
    return {"wall": (w1 - w0) * 1000.0, "thread": (t1 - t0) * 1000.0, "process": (p1 - p0) * 1000.0}


def _wall(fn: Callable[[], object]) -> dict[str, float]:
    start = CPU_CLOCKS["wall"]()
    fn()
    return {"wall": (CPU_CLOCKS["wall"]() - start) * 1000.0}


def _cuda_events(fn: Callable[[], object]) -> dict[str, float]:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return {"wall": float(start.elapsed_time(end))}


def _check_thread_share(samples: Mapping[str, Sequence[float]], clock: str, runtime: str) -> None:
    """A thread clock that saw a fraction of the process's CPU time in every call timed a runtime computing on
    other threads: refused rather than reported."""
    if clock != "thread" or "process" not in samples:
        return
    # the best call: another thread of the process (a progress bar) now and then takes CPU time during a call,
    # a runtime computing on other threads does in every call
    shares = [t / p for t, p in zip(samples["thread"], samples["process"]) if p > 0]
    if shares and max(shares) < THREAD_SHARE_MIN:
        from gasnas.errors import LatencyError

        raise LatencyError(f"{runtime} computed on other threads than the calling one (the calling thread's CPU "
                           f"time was at most {100 * max(shares):.0f}% of the process's in every call), so clock "
                           f"'thread' cannot time it; use clock 'wall'")


def _summarize_cpu(samples: dict[str, list[float]], clock: str, statistic: str, runtime: str, **how) -> Timing:
    _check_thread_share(samples, clock, runtime)
    return summarize(samples, clock=clock, statistic=statistic, runtime=runtime, **how)


@torch.no_grad()
def time_torch(model: nn.Module, input_shape: tuple[int, ...] | Sequence[tuple[int, ...]], *, device: str = "cpu",
               dtype: str = "fp32", warmup: int = 10, repeats: int = 50, threads: int | None = None,
               statistic: str = "median", clock: str = "wall", core: int | None = None) -> Timing:
    """The latency of ``model`` in PyTorch eager mode (CUDA events on a GPU; on CPU ``clock``, pinned to ``core``
    when given), as ``statistic`` of ``repeats`` calls."""
    dev = torch.device(device)
    torch_dtype = {"fp32": torch.float32, "fp16": torch.float16}[dtype]
    if dtype == "fp16" and dev.type != "cuda":
        from gasnas.errors import LatencyError

        raise LatencyError("fp16 timing needs a CUDA device; use --dtype fp32 on CPU")
    model = model.eval().to(dev, torch_dtype)
    shapes = _shapes(input_shape)
    xs = [torch.randn(*shape, device=dev, dtype=torch_dtype) for shape in shapes]
    statistic_of([0.0], statistic)
    with torch_threads(threads) as n:
        chosen = resolve_clock(clock, str(dev), n)
        if dev.type == "cuda":
            torch.cuda.synchronize()
            samples = _run(lambda: model(*xs), warmup, repeats, _cuda_events)
        else:
            with pinned(core):
                samples = _run(lambda: model(*xs), warmup, repeats, read_cpu)
    return _summarize_cpu(samples, chosen, statistic, "torch", warmup=warmup, device=str(dev), threads=n,
                          provider="eager", batch=shapes[0][0])


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
                     providers: ProviderChoice | None = None, statistic: str = "median", clock: str = "wall",
                     core: int | None = None) -> Timing:
    """The latency of an ONNX model in ONNX Runtime with the best provider that loads for ``device``, as
    ``statistic`` of ``repeats`` calls (on CPU read by ``clock``, pinned to ``core`` when given)."""
    statistic_of([0.0], statistic)
    session, chosen = ort_session(onnx_model, device, threads=threads, providers=providers)
    np_dtype = {"fp32": np.float32, "fp16": np.float16}[dtype]
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.standard_normal(shape).astype(np_dtype)
             for i, shape in zip(session.get_inputs(), _shapes(input_shape))}
    used = session.get_providers()[0]
    threads_used = threads or int(session.get_session_options().intra_op_num_threads) or torch.get_num_threads()
    on_cpu = used.startswith("CPU")
    clock_used = resolve_clock(clock, "cpu" if on_cpu else device, threads_used)
    if on_cpu:
        with pinned(core):
            samples = _run(lambda: session.run(None, feeds), warmup, repeats, read_cpu)
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
    return _summarize_cpu(samples, clock_used, statistic, "onnxruntime", warmup=warmup, device=device,
                          threads=threads_used, provider=used if not chosen.skipped else chosen.describe(),
                          batch=_shapes(input_shape)[0][0])


def median_ms(samples: list[float]) -> float:
    return float(statistics.median(samples))
