"""Estimators built on per-block costs: a network costs the (calibrated) sum of its blocks.

The space describes its networks as :class:`~gasnas.api.space.CostTerm` s of blocks (see
``SearchSpace.cost_terms``). A subclass says what one block costs (measured ms for ``lut``, counted MACs for
``flops``); this base turns that into ``estimate(sample)`` and the differentiable expectation over relaxed
choices that differentiable strategies put in their loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gasnas.api.latency import Calibration, ExpectedLatency, LatencyEstimator, group_costs, total_cost
from gasnas.api.space import Block, CostTerm, SearchSpace

__all__ = ["BlockEstimator"]


class BlockEstimator(LatencyEstimator):
    """Sums block costs; subclasses define :meth:`block_cost` and may prepare costs in bulk (:meth:`_measure`)."""

    def block_cost(self, block: Block) -> float:
        raise NotImplementedError

    def _measure(self, terms: list[CostTerm]) -> None:
        """Make the cost of every block of ``terms`` available (measure what is missing); a no-op by default."""

    def calibration(self, space: SearchSpace, input_shape: tuple[int, ...]) -> Calibration | None:
        return None

    def terms(self, space: SearchSpace, input_shape: tuple[int, ...],
              sample: Mapping[str, Any] | None = None) -> list[CostTerm]:
        terms = space.cost_terms(tuple(input_shape), sample, num_classes=self.env.num_classes)
        self._measure(terms)
        return terms

    def prepare(self, space: SearchSpace, input_shape: tuple[int, ...]) -> None:
        """Cost every block of the space at ``input_shape`` (for ``lut``: measure what the table lacks)."""
        self.terms(space, input_shape, None)

    def group_costs(self, space: SearchSpace, sample: Mapping[str, Any], input_shape: tuple[int, ...]) -> dict:
        """Uncalibrated cost per group (stem, cell k, head): the features a calibration is fitted on."""
        return group_costs(self.terms(space, input_shape, sample), self.block_cost)

    def estimate(self, space: SearchSpace, sample: Mapping[str, Any], input_shape: tuple[int, ...]) -> float:
        return total_cost(self.terms(space, input_shape, sample), self.block_cost,
                          self.calibration(space, input_shape))

    def expected(self, space: SearchSpace, input_shape: tuple[int, ...]) -> ExpectedLatency:
        return ExpectedLatency(self.terms(space, input_shape, None), self.block_cost,
                               self.calibration(space, input_shape), exclude_zero=self.options.exclude_zero)
