"""Latency estimator plugins: ``lut`` (per-block lookup table), ``flops`` (counted MACs), ``onnxruntime`` and
``torch`` (whole networks), and the ``gasnas latency`` commands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from gasnas import hookimpl
from gasnas.api import MAX_COUNT, MAX_THREADS, OptionValueError, check_ranges, option


T = TypeVar("T")

#: How ``gasnas latency check --sampler`` draws architectures (see ``gasnas_plugins.latency.fidelity``).
SAMPLERS = ("spread", "diverse", "uniform")


#: The timing statistic the latency estimators keep by default (see ``TimingOptions.statistic``; ours, chosen with
#: ``benchmarks/latency_statistics.py``, docs/latency.md).
DEFAULT_STATISTIC = "min"

#: How the latency estimators call the networks (blocks) they time by default (see ``TimingOptions.calls``; ours,
#: chosen with ``benchmarks/latency_statistics.py``, docs/latency.md: interleaved calls repeat where blocked ones
#: do not on a machine whose speed drifts over seconds).
DEFAULT_CALLS = "interleaved"
#: How many networks (blocks) are timed interleaved at once by default: the 80 architectures of ``gasnas latency
#: check`` in one group (split into groups, each group meets its own share of a drift).
DEFAULT_TOGETHER = 80


def groups_of(items: Sequence[T], together: int) -> list[Sequence[T]]:
    """``items`` in consecutive groups of at most ``together``, as equal in size as possible."""
    count = max(1, -(-len(items) // together))
    bounds = [round(i * len(items) / count) for i in range(count + 1)]
    return [items[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


@dataclass(frozen=True)
class TimingOptions:
    """How a measurement is taken: a statistic over repeats after warm-up, read by a clock, with a fixed thread
    count on CPU. The table of ``lut`` and the whole networks it is calibrated against share these options."""

    warmup: int = option(10, "untimed runs before timing", ge=0, le=MAX_COUNT)
    repeats: int = option(50, "timed runs, summarised by the statistic", ge=1, le=MAX_COUNT)
    threads: int | None = option(None, "CPU threads for the measurement (null: the run's top-level threads; "
                                       "fixed per table)", ge=1, le=MAX_THREADS)
    dtype: Literal["fp32", "fp16"] = option("fp32", "precision (fp16 on CUDA only)")
    statistic: Literal["min", "p10", "p25", "median", "mean"] = option(
        DEFAULT_STATISTIC, "which summary of the timed runs is the latency: min (the fastest run: what the device "
                           "takes undisturbed), p10/p25 (low percentiles), median or mean; part of a table's key")
    clock: Literal["auto", "wall", "thread"] = option(
        "auto", "what reads a CPU run: wall (wall clock), thread (the calling thread's CPU time: time taken by other "
                "processes does not count; one thread only) or auto (thread with one CPU thread, else wall); a GPU "
                "has its own clock; part of a table's key")
    core: int | None = option(None, "pin the measuring thread to this CPU core while timing (null: the OS "
                                    "schedules it)", ge=0, le=4096)
    calls: Literal["blocked", "interleaved"] = option(
        DEFAULT_CALLS, "how the networks (blocks) of a set are called: blocked (each alone, warm-up then its timed "
                       "runs back to back) or interleaved (one session each, then one timed run of each per sweep, "
                       "in a fresh random order; a drift of the machine's speed meets all alike); part of a table's "
                       "key")
    together: int = option(
        DEFAULT_TOGETHER, "the most networks (blocks) timed interleaved at once; a larger set is split into equal "
                          "groups. Each holds a session (its weights and activations): lower it for large networks "
                          "or little memory", ge=1, le=MAX_COUNT)

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.clock == "thread" and self.threads is not None and self.threads > 1:
            raise OptionValueError("clock", f"clock 'thread' times one thread only, not threads={self.threads}; "
                                            "use clock 'wall' or 'auto'")


@dataclass(frozen=True)
class LUTOptions(TimingOptions):
    """A lookup table of blocks (an operation with its conv-BN-ReLU, at one place in the network)."""

    runtime: Literal["onnxruntime", "torch"] = option(
        "onnxruntime", "runtime that times each block as it would run it (fused by ONNX Runtime's optimiser)")
    table: str | None = option(None, "table file (null: one per device/runtime/dtype/threads in the cache dir)")
    tensorrt: bool = option(True, "ask for TensorRT before CUDA on a GPU, when it loads (runtime onnxruntime only; "
                                  "the provider that loads is part of the table's key)")
    exclude_zero: bool = option(
        True, "expected latency over the non-zero operations of each edge, i.e. over what a derivation keeps")
    calibrated: bool = option(True, "apply the table's calibration for this space and input size when it has one")
    calibrate: int = option(
        0, "when the table has no calibration for this space and input size: time this many architectures "
           "(spread over the space's range) end to end in the same runtime and fit one, kept in the table "
           "(0: never; gasnas latency check --store-calibration fits one on demand)", ge=0, le=MAX_COUNT)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.calibrate != 0 and self.calibrate < 3:
            raise ValueError("calibrate must be 0 (off) or at least 3 architectures")


@dataclass(frozen=True)
class WholeNetworkOptions(TimingOptions):
    """Times the whole derived network end to end."""

    opset: int = option(17, "ONNX opset of the export (onnxruntime only)",
                        ge=17)  # gasnas.runtime.export.MIN_OPSET (not imported: it imports torch)
    tensorrt: bool = option(True, "ask for TensorRT before CUDA on a GPU, when it loads (onnxruntime only)")


@dataclass(frozen=True)
class FlopsOptions:
    """Counts multiply-accumulates instead of timing."""

    count: Literal["all", "conv"] = option(
        "all", "all: every counted op (conv, norm, pooling, resize, adds); conv: convolutions and matrix products")
    exclude_zero: bool = option(True, "expected MACs over the non-zero operations of each edge")


@hookimpl
def gasnas_register_latency_estimators(registry) -> None:
    registry.add("lut", "gasnas_plugins.latency.lut:LookupTableEstimator", options=LUTOptions,
                 description="per-block lookup table measured on the device, cached; differentiable expected "
                             "latency for relaxed architectures")
    registry.add("onnxruntime", "gasnas_plugins.latency.whole:OnnxRuntimeEstimator", options=WholeNetworkOptions,
                 description="exports the network and times it in ONNX Runtime (CUDA/TensorRT on a GPU): the "
                             "deployed latency")
    registry.add("torch", "gasnas_plugins.latency.whole:TorchEstimator", options=WholeNetworkOptions,
                 description="times the network in PyTorch eager mode (CUDA events on a GPU)")
    registry.add("flops", "gasnas_plugins.latency.flops:FlopsEstimator", options=FlopsOptions, unit="GMACs",
                 description="MACs counted analytically per block (GMACs, no timing): the cheap proxy, "
                             "differentiable for relaxed architectures")


@hookimpl
def gasnas_register_commands(registry) -> None:
    from gasnas_plugins.latency.cli import latency

    registry.add(latency)
