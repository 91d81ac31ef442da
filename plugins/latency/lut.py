"""The ``lut`` estimator: a per-block lookup table measured on the target device, and its expected latency.

Each block (an operation with its BN and ReLU, at one cell position's shape) is timed on its own, as the
runtime will run it: exported to ONNX and run in ONNX Runtime, whose optimiser fuses conv-BN-ReLU (or in torch
eager). A network's latency is the sum over its blocks, corrected by the table's calibration for this space and
input size when one was fitted (``gasnas latency check --calibrate``). For relaxed architectures the same sum
is an expectation over the mixing weights, differentiable in them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from gasnas.api.latency import Calibration, LatencyEnv
from gasnas.api.space import Block, CostTerm, SearchSpace
from gasnas.errors import LatencyError
from gasnas_plugins.latency import LUTOptions
from gasnas_plugins.latency.block import BlockEstimator
from gasnas_plugins.latency.device import device_name, runtime_version, slug
from gasnas_plugins.latency.table import LatencyTable, TableKey
from gasnas_plugins.runtime.export import export_onnx
from gasnas_plugins.runtime.providers import choose_providers
from gasnas_plugins.runtime.timing import time_onnxruntime, time_torch

__all__ = ["LookupTableEstimator", "calibration_key"]

log = logging.getLogger(__name__)


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
        key = TableKey(device_name(device), runtime, o.dtype, self.threads)
        name = f"{slug(key.device)}-{runtime_slug}-{o.dtype}-t{self.threads}.json"
        path = Path(o.table) if o.table else self.env.cache_dir / "latency" / name
        self.table = LatencyTable.open(path, key, {"torch": torch.__version__, "runtime": key.runtime})

    # -- measuring ---------------------------------------------------------------------------------------------

    def time_block(self, block: Block) -> float:
        """Median ms of one block, run as the runtime runs it; a block that cannot be timed is a LatencyError."""
        o = self.options
        try:
            module = block.factory().eval()
        except Exception as exc:  # noqa: BLE001
            raise LatencyError(f"cannot build block {block.signature}: {type(exc).__name__}: {exc}") from exc
        try:
            if o.runtime == "onnxruntime":
                onnx = export_onnx(module, block.input_shapes)
                timing = time_onnxruntime(onnx, block.input_shapes, device=self.env.device, dtype=o.dtype,
                                          warmup=o.warmup, repeats=o.repeats, threads=self.threads,
                                          providers=self.providers)
            else:
                timing = time_torch(module, block.input_shapes, device=self.env.device, dtype=o.dtype,
                                    warmup=o.warmup, repeats=o.repeats, threads=self.threads)
        except LatencyError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise LatencyError(f"{o.runtime} cannot time block {block.signature}: "
                               f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
        return timing.median_ms

    def block_cost(self, block: Block) -> float:
        return self.table.cost(block)

    def _measure(self, terms: list[CostTerm]) -> None:
        blocks = [b for t in terms for candidate in t.candidates for b in candidate]
        self.table.measure(blocks, self.time_block, self.env.progress)

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
        return f"lut: {key.runtime} on {key.device}, {key.dtype}, {key.threads} thread(s)"
