"""The ``lut`` estimator: a per-block lookup table measured on the target device, and its expected latency.

Each block (an operation with its BN and ReLU, at one cell position's shape) is timed on its own, as the
runtime will run it: exported to ONNX and run in ONNX Runtime, whose optimiser fuses conv-BN-ReLU (or in torch
eager). A network's latency is the sum over its blocks, corrected by the table's calibration for this space and
input size when one was fitted (``gasnas latency check --calibrate``). For relaxed architectures the same sum
is an expectation over the mixing weights, differentiable in them.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from gasnas.api import (LatencyError, choose_providers, export_onnx, resolve_clock, time_onnxruntime_many,
                        time_torch_many)
from gasnas.api.latency import Calibration, LatencyEnv
from gasnas.api.space import Block, CostTerm, SearchSpace
from gasnas_plugins.latency import LUTOptions
from gasnas_plugins.latency.block import BlockEstimator
from gasnas_plugins.latency.device import describe_timing, device_name, runtime_version, slug
from gasnas_plugins.latency.table import LatencyTable, TableKey

__all__ = ["LookupTableEstimator", "calibration_key"]

log = logging.getLogger(__name__)

#: largest leave-one-out error (percent) of an automatic calibration that is kept
CALIBRATION_TOLERANCE = 10.0


def calibration_key(space: SearchSpace, input_shape: tuple[int, ...], num_classes: int) -> str:
    return f"{space.fingerprint()}@{'x'.join(map(str, input_shape))}/{num_classes}"


def default_threads(device: str, threads: int | None) -> int:
    return threads or (torch.get_num_threads() if not device.startswith("cuda") else 1)


class LookupTableEstimator(BlockEstimator):
    """Sums measured block latencies; gives the differentiable expectation for relaxed architectures."""

    def __init__(self, options: LUTOptions | None = None, env: LatencyEnv | None = None) -> None:
        super().__init__(options or LUTOptions(), env)
        o = self.options
        device = self.env.device
        self.threads = default_threads(device, o.threads)
        runtime, runtime_slug = runtime_version(o.runtime), o.runtime
        self.providers = None
        if o.runtime == "onnxruntime":
            self.providers = choose_providers(device, tensorrt=o.tensorrt)
            if device.startswith("cuda"):  # TensorRT and CUDA kernels differ: one table per provider
                runtime += f" {self.providers.primary}"
                runtime_slug += "-" + self.providers.primary.removesuffix("ExecutionProvider").lower()
        self.clock = resolve_clock(o.clock, device, self.threads)
        key = TableKey(device_name(device), runtime, o.dtype, self.threads, o.statistic, self.clock, o.calls)
        name = f"{slug(key.device)}-{runtime_slug}-{o.dtype}-t{self.threads}.json"
        path = Path(o.table) if o.table else self.env.cache_dir / "latency" / name
        self.table = LatencyTable.open(path, key, {"torch": torch.__version__, "runtime": key.runtime})

    # -- measuring ---------------------------------------------------------------------------------------------

    def timing_options(self) -> dict[str, Any]:
        """How every block is timed; the whole networks the table is calibrated against are timed alike."""
        o = self.options
        return dict(device=self.env.device, dtype=o.dtype, warmup=o.warmup, repeats=o.repeats, threads=self.threads,
                    statistic=o.statistic, clock=self.clock, core=o.core)

    def time_block(self, block: Block) -> float:
        """The ms of one block (the options' statistic and clock), run as the runtime runs it; a block that cannot
        be timed is a LatencyError."""
        return self.time_blocks([block])[0]

    def time_blocks(self, blocks: list[Block]) -> list[float]:
        """The ms of ``blocks`` timed together, interleaved (one session each; see
        :func:`~gasnas.runtime.timing.time_interleaved`), in their order; a block that cannot be timed is a
        LatencyError naming it."""
        o = self.options
        modules = []
        for block in blocks:
            try:
                modules.append(block.factory().eval())
            except Exception as exc:  # noqa: BLE001
                raise LatencyError(f"cannot build block {block.signature}: {type(exc).__name__}: {exc}") from exc
        shapes = [block.input_shapes for block in blocks]
        try:
            if o.runtime == "onnxruntime":
                onnx = [export_onnx(module, shape) for module, shape in zip(modules, shapes)]
                timings = time_onnxruntime_many(onnx, shapes, providers=self.providers, **self.timing_options())
            else:
                timings = time_torch_many(modules, shapes, **self.timing_options())
        except LatencyError:
            raise
        except Exception as exc:  # noqa: BLE001
            if len(blocks) > 1:  # time each alone: the error then names the block that fails
                for block in blocks:
                    self.time_block(block)
            names = ", ".join(block.signature for block in blocks)
            raise LatencyError(f"{o.runtime} cannot time block{'s' if len(blocks) > 1 else ''} {names}: "
                               f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
        return [timing.ms for timing in timings]

    def block_cost(self, block: Block) -> float:
        return self.table.cost(block)

    def _measure(self, terms: list[CostTerm]) -> None:
        blocks = [b for t in terms for candidate in t.candidates for b in candidate]
        interleaved = {"save_every": self.options.together, "timer_many": self.time_blocks}
        self.table.measure(blocks, self.time_block, self.env.progress,
                           **(interleaved if self.options.calls == "interleaved" else {}))

    def prepare(self, space: SearchSpace, input_shape: tuple[int, ...]) -> None:
        """Measure the blocks the table lacks; with ``calibrate``, fit a calibration when there is none."""
        super().prepare(space, input_shape)
        o = self.options
        if o.calibrate and o.calibrated and self.calibration(space, input_shape) is None:
            self.calibrate(space, input_shape, o.calibrate)

    def calibrate(self, space: SearchSpace, input_shape: tuple[int, ...], n: int) -> Calibration | None:
        """Time ``n`` architectures spread over the space's range end to end (the table's runtime, threads,
        repeats, statistic, clock and calls), fit the per-group correction of
        :func:`~gasnas_plugins.latency.fidelity.fit_calibration` and keep it in the table -- unless its
        leave-one-out error exceeds :data:`CALIBRATION_TOLERANCE` percent (timings taken on a busy machine), which
        is reported and nothing is kept."""
        from gasnas_plugins.latency import WholeNetworkOptions
        from gasnas_plugins.latency.check import sample_architectures
        from gasnas_plugins.latency.fidelity import fit_calibration
        from gasnas_plugins.latency.whole import OnnxRuntimeEstimator, TorchEstimator

        o = self.options
        whole_type = OnnxRuntimeEstimator if o.runtime == "onnxruntime" else TorchEstimator
        whole = whole_type(WholeNetworkOptions(warmup=o.warmup, repeats=o.repeats, threads=self.threads,
                                               dtype=o.dtype, tensorrt=o.tensorrt, statistic=o.statistic,
                                               clock=o.clock, core=o.core, calls=o.calls, together=o.together),
                           self.env)
        samples = sample_architectures(space, input_shape, "spread", n, seed=0)
        context = self.env.progress(len(samples), "calibrating the latency table") if self.env.progress \
            else nullcontext(None)
        with torch.random.fork_rng(devices=[]), context as task:
            measured = whole.estimate_many(space, samples, input_shape, advance=task.advance if task else None)
        features = [self.group_costs(space, s, input_shape) for s in samples]
        calibration, info = fit_calibration(features, measured)
        if info["loo_mape"] > CALIBRATION_TOLERANCE:
            log.warning("the latency table's calibration on %d architectures has a leave-one-out error of %.1f%% "
                        "(more than %g%%): the timings are too noisy to correct the table by (is the machine busy?); "
                        "it was not kept, and the table is used as measured", len(samples), info["loo_mape"],
                        CALIBRATION_TOLERANCE)
            return None
        self.store_calibration(space, input_shape, calibration, fitted_on=len(samples), automatic=True, **info)
        log.info("latency table calibrated on %d architectures (leave-one-out error %.1f%%)", len(samples),
                 info["loo_mape"])
        return calibration

    def calibration(self, space: SearchSpace, input_shape: tuple[int, ...]) -> Calibration | None:
        if not self.options.calibrated:
            return None
        data = self.table.calibrations.get(calibration_key(space, input_shape, self.env.num_classes))
        return None if data is None else Calibration(data["intercept"], data["scales"])

    def store_calibration(self, space: SearchSpace, input_shape: tuple[int, ...], calibration: Calibration,
                          **info: Any) -> None:
        """Keep ``calibration`` in the table file for this space and input shape."""
        self.table.calibrations[calibration_key(space, input_shape, self.env.num_classes)] = {
            "intercept": calibration.intercept, "scales": dict(calibration.scales), **info}
        self.table.save()

    def describe(self) -> str:
        key = self.table.key
        return f"lut: {key.runtime} on {key.device}, {key.dtype}, {key.threads} thread(s), " \
               f"{describe_timing(key.statistic, key.clock, key.calls)}"
