"""Estimators that time whole networks: ``onnxruntime`` (the deployed latency) and ``torch`` (eager).

Both build the architecture's stand-alone network and time it at the input shape with warm-up, repeats, the
options' statistic and clock (the same as the ``lut`` table's, so that a calibration compares like with like), on
the engine's device, sharing the runtime code of ``gasnas benchmark``. They give no differentiable
expectation: use them to measure final networks (``latency.measure``) or with sampling strategies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gasnas.api import (LatencyError, Timing, choose_providers, export_onnx, resolve_clock, time_onnxruntime,
                        time_torch)
from gasnas.api.latency import LatencyEnv, LatencyEstimator
from gasnas.api.space import SearchSpace
from gasnas_plugins.latency import WholeNetworkOptions
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

    def timing_options(self) -> dict[str, Any]:
        """How every network is timed (the keywords of the runtime's timing function)."""
        o = self.options
        return dict(device=self.env.device, dtype=o.dtype, warmup=o.warmup, repeats=o.repeats, threads=self.threads,
                    statistic=o.statistic, clock=self.clock, core=o.core)

    def time(self, network, input_shape: tuple[int, ...]) -> Timing:
        raise NotImplementedError

    def estimate(self, space: SearchSpace, sample: Mapping[str, Any], input_shape: tuple[int, ...]) -> float:
        network = space.build(sample, self.env.num_classes).eval()
        try:
            self.last = self.time(network, tuple(input_shape))
        except LatencyError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise LatencyError(f"{self.runtime} cannot time the network: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200]}") from exc
        return self.last.ms

    def describe(self) -> str:
        provider = f" {self.last.provider}" if self.last and self.last.provider else ""
        return f"{self.runtime}{provider} on {device_name(self.env.device)}, {self.options.dtype}, " \
               f"{self.threads} thread(s), {describe_timing(self.options.statistic, self.clock)}"


class OnnxRuntimeEstimator(_WholeNetwork):
    """Exports the network (ONNX) and times it in ONNX Runtime with the providers that load on the device."""

    runtime = "onnxruntime"

    def time(self, network, input_shape: tuple[int, ...]) -> Timing:
        o = self.options
        onnx = export_onnx(network, input_shape, opset=o.opset)
        providers = choose_providers(self.env.device, tensorrt=o.tensorrt)
        return time_onnxruntime(onnx, input_shape, providers=providers, **self.timing_options())


class TorchEstimator(_WholeNetwork):
    """Times the network in PyTorch eager mode."""

    runtime = "torch"

    def time(self, network, input_shape: tuple[int, ...]) -> Timing:
        return time_torch(network, input_shape, **self.timing_options())
