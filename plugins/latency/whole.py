"""Estimators that time whole networks: ``onnxruntime`` (the deployed latency) and ``torch`` (eager).

Both build the architecture's stand-alone network and time it at the input shape with warm-up, repeats, the
options' statistic and clock (the same as the ``lut`` table's, so that a calibration compares like with like), on
the engine's device, sharing the runtime code of ``gasnas benchmark``. They give no differentiable
expectation: use them to measure final networks (``latency.measure``) or with sampling strategies.

A set of networks (a calibration, the rounds of ``gasnas latency check``) is measured by :meth:`estimate_many`:
with ``calls: interleaved`` (the default) the networks are built, and timed together (at most the options'
``together`` at a time), one call of each per sweep (:func:`~gasnas.runtime.timing.time_interleaved`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gasnas.api import (LatencyError, Timing, choose_providers, export_onnx, resolve_clock, time_onnxruntime_many,
                        time_torch_many)
from gasnas.api.latency import LatencyEnv, LatencyEstimator
from gasnas.api.space import SearchSpace
from gasnas_plugins.latency import WholeNetworkOptions, groups_of
from gasnas_plugins.latency.device import describe_timing, device_name
from gasnas_plugins.latency.lut import default_threads

__all__ = ["OnnxRuntimeEstimator", "TorchEstimator"]


class _WholeNetwork(LatencyEstimator):
    runtime = ""

    def __init__(self, options: WholeNetworkOptions | None = None, env: LatencyEnv | None = None) -> None:
        super().__init__(options or WholeNetworkOptions(), env)
        self.threads = default_threads(self.env.device, self.options.threads)
        self.clock = resolve_clock(self.options.clock, self.env.device, self.threads)
        self.last: Timing | None = None
        #: groups timed together so far: each group's sweeps take their own seeded order
        self._groups = 0

    def timing_options(self) -> dict[str, Any]:
        """How every network is timed (the keywords of the runtime's timing function)."""
        o = self.options
        return dict(device=self.env.device, dtype=o.dtype, warmup=o.warmup, repeats=o.repeats, threads=self.threads,
                    statistic=o.statistic, clock=self.clock, core=o.core)

    def time_many(self, networks: Sequence, input_shape: tuple[int, ...], seed: int = 0) -> list[Timing]:
        """``networks`` timed together, interleaved (one network: alone), at ``input_shape``."""
        raise NotImplementedError

    def _timed(self, networks: Sequence, input_shape: tuple[int, ...]) -> list[Timing]:
        try:
            timings = self.time_many(networks, tuple(input_shape), seed=self._groups)
        except LatencyError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise LatencyError(f"{self.runtime} cannot time the network{'s' if len(networks) > 1 else ''}: "
                               f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
        self._groups += 1
        self.last = timings[-1]
        return timings

    def estimate(self, space: SearchSpace, sample: Mapping[str, Any], input_shape: tuple[int, ...]) -> float:
        return self._timed([space.build(sample, self.env.num_classes).eval()], input_shape)[0].ms

    def estimate_many(self, space: SearchSpace, samples: Sequence[Mapping[str, Any]], input_shape: tuple[int, ...],
                      advance: Callable[[], object] | None = None) -> list[float]:
        """With ``calls: interleaved``, the networks of ``samples`` timed together (in equal groups of at most the
        options' ``together``); else one after another (:meth:`estimate`). In the samples' order."""
        if self.options.calls != "interleaved":
            return super().estimate_many(space, samples, input_shape, advance)
        out: list[float] = []
        for group in groups_of(samples, self.options.together):
            networks = [space.build(sample, self.env.num_classes).eval() for sample in group]
            for timing in self._timed(networks, input_shape):
                out.append(timing.ms)
                if advance is not None:
                    advance()
        return out

    def describe(self) -> str:
        provider = f" {self.last.provider}" if self.last and self.last.provider else ""
        return f"{self.runtime}{provider} on {device_name(self.env.device)}, {self.options.dtype}, " \
               f"{self.threads} thread(s), {describe_timing(self.options.statistic, self.clock, self.options.calls)}"


class OnnxRuntimeEstimator(_WholeNetwork):
    """Exports the network (ONNX) and times it in ONNX Runtime with the providers that load on the device."""

    runtime = "onnxruntime"

    def time_many(self, networks: Sequence, input_shape: tuple[int, ...], seed: int = 0) -> list[Timing]:
        o = self.options
        onnx = [export_onnx(network, input_shape, opset=o.opset) for network in networks]
        providers = choose_providers(self.env.device, tensorrt=o.tensorrt)
        return time_onnxruntime_many(onnx, [input_shape] * len(onnx), providers=providers, seed=seed,
                                     **self.timing_options())


class TorchEstimator(_WholeNetwork):
    """Times the network in PyTorch eager mode."""

    runtime = "torch"

    def time_many(self, networks: Sequence, input_shape: tuple[int, ...], seed: int = 0) -> list[Timing]:
        return time_torch_many(networks, [input_shape] * len(networks), seed=seed, **self.timing_options())
