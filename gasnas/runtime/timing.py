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

Several networks can be timed together, interleaved (:func:`time_onnxruntime_many`, :func:`time_torch_many`,
built on :func:`time_interleaved`): one session per network, then ``repeats`` sweeps of one call each over all of
them in a fresh random order, so that a drift of the machine's speed meets every network alike.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from gasnas.runtime.export import _shapes
from gasnas.runtime.providers import ProviderChoice, choose_providers

__all__ = ["Timing", "summarize", "time_torch", "time_onnxruntime", "time_torch_many", "time_onnxruntime_many",
           "time_interleaved", "torch_threads", "ort_session", "SPREAD_WARNING", "STATISTICS", "CLOCKS",
           "statistic_of", "resolve_clock", "pinned", "read_cpu"]

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


def time_interleaved(calls: Sequence[Callable[[], object]], *, warmup: int, repeats: int,
                     read: Callable[[Callable[[], object]], dict[str, float]], seed: int = 0
                     ) -> list[dict[str, list[float]]]:
    """Time ``calls`` together: each warmed by ``warmup`` untimed calls, then ``repeats`` sweeps over all of them,
    each sweep in a fresh random order (seeded by ``seed``), each call read once per sweep by ``read`` (ms by
    clock). Per call, its readings by clock, in ``calls``' order.

    A machine whose speed drifts over seconds slows the calls of one sweep alike, so the calls stay comparable;
    timed one after another, each would meet its own speed. One call alone is the plain ``warmup``, ``repeats``.
    """
    for call in calls:
        for _ in range(warmup):
            call()
    out: list[dict[str, list[float]]] = [{} for _ in calls]
    order = list(range(len(calls)))
    rng = random.Random(seed)
    for _ in range(repeats):
        rng.shuffle(order)
        for i in order:
            for name, ms in read(calls[i]).items():
                out[i].setdefault(name, []).append(ms)
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


@dataclass(frozen=True)
class _Prepared:
    """One network ready to be timed: its call, the reader of one call, and how it runs (for its Timing)."""

    call: Callable[[], object]
    read: Callable[[Callable[[], object]], dict[str, float]]
    runtime: str
    clock: str
    how: Mapping[str, object]


def _time_prepared(prepared: Sequence[_Prepared], *, warmup: int, repeats: int, statistic: str, core: int | None,
                   seed: int) -> list[Timing]:
    """``prepared`` timed interleaved (one network alone: ``warmup`` calls, then ``repeats`` timed calls), each
    summarised by its clock, pinned to ``core`` on CPU."""
    if not prepared:
        return []
    reads = {p.read for p in prepared}
    if len(reads) > 1:
        from gasnas.errors import LatencyError

        raise LatencyError("the networks to time together run on different devices or providers "
                           f"({', '.join(sorted({str(p.how.get('provider')) for p in prepared}))}); time them apart")
    read = reads.pop()
    with pinned(core) if read is read_cpu else contextlib.nullcontext():
        samples = time_interleaved([p.call for p in prepared], warmup=warmup, repeats=repeats, read=read, seed=seed)
    return [_summarize_cpu(s, p.clock, statistic, p.runtime, warmup=warmup, **p.how)
            for p, s in zip(prepared, samples)]


def _paired(models: Sequence, input_shapes: Sequence) -> None:
    if len(models) != len(input_shapes):
        raise ValueError(f"{len(models)} networks but {len(input_shapes)} input shapes: give one shape per network")


def _torch_call(model: nn.Module, input_shape: tuple[int, ...] | Sequence[tuple[int, ...]], dev: torch.device,
                torch_dtype: torch.dtype, clock: str, threads: int) -> _Prepared:
    model = model.eval().to(dev, torch_dtype)
    shapes = _shapes(input_shape)
    xs = [torch.randn(*shape, device=dev, dtype=torch_dtype) for shape in shapes]
    return _Prepared(lambda: model(*xs), _cuda_events if dev.type == "cuda" else read_cpu, "torch",
                     resolve_clock(clock, str(dev), threads),
                     dict(device=str(dev), threads=threads, provider="eager", batch=shapes[0][0]))


@torch.no_grad()
def time_torch_many(models: Sequence[nn.Module], input_shapes: Sequence[tuple[int, ...] | Sequence[tuple[int, ...]]],
                    *, device: str = "cpu", dtype: str = "fp32", warmup: int = 10, repeats: int = 50,
                    threads: int | None = None, statistic: str = "median", clock: str = "wall",
                    core: int | None = None, seed: int = 0) -> list[Timing]:
    """The latencies of ``models`` (one input shape each) in PyTorch eager mode, timed interleaved
    (:func:`time_interleaved`; CUDA events on a GPU), as :func:`time_torch` times one."""
    _paired(models, input_shapes)
    dev = torch.device(device)
    torch_dtype = {"fp32": torch.float32, "fp16": torch.float16}[dtype]
    if dtype == "fp16" and dev.type != "cuda":
        from gasnas.errors import LatencyError

        raise LatencyError("fp16 timing needs a CUDA device; use --dtype fp32 on CPU")
    statistic_of([0.0], statistic)
    with torch_threads(threads) as n:
        prepared = [_torch_call(m, shape, dev, torch_dtype, clock, n) for m, shape in zip(models, input_shapes)]
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return _time_prepared(prepared, warmup=warmup, repeats=repeats, statistic=statistic, core=core, seed=seed)


def time_torch(model: nn.Module, input_shape: tuple[int, ...] | Sequence[tuple[int, ...]], *, device: str = "cpu",
               dtype: str = "fp32", warmup: int = 10, repeats: int = 50, threads: int | None = None,
               statistic: str = "median", clock: str = "wall", core: int | None = None) -> Timing:
    """The latency of ``model`` in PyTorch eager mode (CUDA events on a GPU; on CPU ``clock``, pinned to ``core``
    when given), as ``statistic`` of ``repeats`` calls after ``warmup`` untimed ones."""
    return time_torch_many([model], [input_shape], device=device, dtype=dtype, warmup=warmup, repeats=repeats,
                           threads=threads, statistic=statistic, clock=clock, core=core)[0]


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


def _ort_call(onnx_model: bytes, input_shape: tuple[int, ...] | Sequence[tuple[int, ...]], *, device: str,
              dtype: str, threads: int | None, providers: ProviderChoice | None, clock: str) -> _Prepared:
    session, chosen = ort_session(onnx_model, device, threads=threads, providers=providers)
    np_dtype = {"fp32": np.float32, "fp16": np.float16}[dtype]
    rng = np.random.default_rng(0)
    shapes = _shapes(input_shape)
    feeds = {i.name: rng.standard_normal(shape).astype(np_dtype) for i, shape in zip(session.get_inputs(), shapes)}
    used = session.get_providers()[0]
    threads_used = threads or int(session.get_session_options().intra_op_num_threads) or torch.get_num_threads()
    on_cpu = used.startswith("CPU")
    how = dict(device=device, threads=threads_used, provider=used if not chosen.skipped else chosen.describe(),
               batch=shapes[0][0])
    clock_used = resolve_clock(clock, "cpu" if on_cpu else device, threads_used)
    if on_cpu:
        return _Prepared(lambda: session.run(None, feeds), read_cpu, "onnxruntime", clock_used, how)
    # GPU providers: bind I/O on the device so host copies are not what gets timed
    import onnxruntime as ort

    binding = session.io_binding()
    index = int(device.split(":")[1]) if ":" in device else 0
    for name, value in feeds.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value, "cuda", index))
    for out in session.get_outputs():
        binding.bind_output(out.name, "cuda")
    return _Prepared(lambda: session.run_with_iobinding(binding), _wall, "onnxruntime", clock_used, how)


def time_onnxruntime_many(onnx_models: Sequence[bytes],
                          input_shapes: Sequence[tuple[int, ...] | Sequence[tuple[int, ...]]], *,
                          device: str = "cpu", dtype: str = "fp32", warmup: int = 10, repeats: int = 50,
                          threads: int | None = None, providers: ProviderChoice | None = None,
                          statistic: str = "median", clock: str = "wall", core: int | None = None,
                          seed: int = 0) -> list[Timing]:
    """The latencies of ONNX models (one input shape each) in ONNX Runtime, one session each, timed interleaved
    (:func:`time_interleaved`), as :func:`time_onnxruntime` times one."""
    _paired(onnx_models, input_shapes)
    statistic_of([0.0], statistic)
    prepared = [_ort_call(m, shape, device=device, dtype=dtype, threads=threads, providers=providers, clock=clock)
                for m, shape in zip(onnx_models, input_shapes)]
    return _time_prepared(prepared, warmup=warmup, repeats=repeats, statistic=statistic, core=core, seed=seed)


def time_onnxruntime(onnx_model: bytes, input_shape: tuple[int, ...] | Sequence[tuple[int, ...]], *,
                     device: str = "cpu",
                     dtype: str = "fp32", warmup: int = 10, repeats: int = 50, threads: int | None = None,
                     providers: ProviderChoice | None = None, statistic: str = "median", clock: str = "wall",
                     core: int | None = None) -> Timing:
    """The latency of an ONNX model in ONNX Runtime with the best provider that loads for ``device``, as
    ``statistic`` of ``repeats`` calls after ``warmup`` untimed ones (on CPU read by ``clock``, pinned to ``core``
    when given)."""
    return time_onnxruntime_many([onnx_model], [input_shape], device=device, dtype=dtype, warmup=warmup,
                                 repeats=repeats, threads=threads, providers=providers, statistic=statistic,
                                 clock=clock, core=core)[0]


def median_ms(samples: list[float]) -> float:
    return float(statistics.median(samples))
