"""The ``device-table`` estimator: a network costs the sum of its blocks' measured latencies.

The space describes its networks as blocks (``SearchSpace.cost_terms``); the table gives each block's ms. The
same table gives the differentiable expected latency over the supernet's relaxed choices, so a differentiable
search can steer toward a device gasnas never runs on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from device_table.plugin import DeviceTableOptions
from device_table.table import read_table, unique_blocks
from gasnas.api import LatencyError
from gasnas.api.latency import ExpectedLatency, LatencyEnv, LatencyEstimator, total_cost
from gasnas.api.space import Block, SearchSpace


class DeviceTableEstimator(LatencyEstimator):
    unit = "ms"

    def __init__(self, options: DeviceTableOptions | None = None, env: LatencyEnv | None = None) -> None:
        super().__init__(options or DeviceTableOptions(), env)
        if self.options.table is None and self.options.untimed == "error":
            raise LatencyError("latency.params.table: name the CSV of your device's block latencies "
                               "(`gasnas device-table template CONFIG -o FILE` lists the blocks to time)")
        self.table = read_table(self.options.table) if self.options.table is not None else {}

    def block_cost(self, block: Block) -> float:
        if block.signature not in self.table:
            if self.options.untimed == "error":
                raise LatencyError(f"{self.options.table}: no latency for block {block.signature}; `gasnas "
                                   "device-table template CONFIG -o FILE` lists every block to time")
            self.table[block.signature] = self._from_macs(block)
        return self.table[block.signature]

    def _from_macs(self, block: Block) -> float:
        from gasnas.api import count_macs as count

        macs = count(block.factory(), list(block.input_shapes)).macs
        return self.options.launch_ms + macs / (self.options.gmacs_per_s * 1e6)

    def prepare(self, space: SearchSpace, input_shape: tuple[int, ...]) -> None:
        """Check, before the search starts, that the table covers every block of the space."""
        if self.options.untimed != "error":
            return
        terms = space.cost_terms(tuple(input_shape), None, num_classes=self.env.num_classes)
        missing = [b.signature for b in unique_blocks(terms) if b.signature not in self.table]
        if missing:
            raise LatencyError(f"{self.options.table}: {len(missing)} block(s) of this space at input "
                               f"{'x'.join(map(str, input_shape))} have no latency, e.g. {missing[0]}; "
                               "`gasnas device-table template CONFIG -o FILE` lists every block to time")

    def estimate(self, space: SearchSpace, sample: Mapping[str, Any], input_shape: tuple[int, ...]) -> float:
        terms = space.cost_terms(tuple(input_shape), sample, num_classes=self.env.num_classes)
        return total_cost(terms, self.block_cost)

    def expected(self, space: SearchSpace, input_shape: tuple[int, ...]) -> ExpectedLatency:
        terms = space.cost_terms(tuple(input_shape), None, num_classes=self.env.num_classes)
        return ExpectedLatency(terms, self.block_cost, exclude_zero=self.options.exclude_zero)

    def describe(self) -> str:
        untimed = f", untimed blocks at {self.options.gmacs_per_s:g} GMAC/s" if self.options.untimed == "macs" else ""
        return f"device-table: {self.options.device} ({self.options.table or 'no table'}{untimed})"
