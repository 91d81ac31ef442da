"""The latency estimator contract, and the differentiable expected latency built from block costs.

An estimator gives ``estimate(space, sample) -> ms`` for concrete architectures. Estimators built on per-block
costs (lookup tables, FLOPs) also give :meth:`LatencyEstimator.expected`: an :class:`ExpectedLatency` module
that maps relaxed mixing weights to the expected latency, differentiable in the weights. A latency estimator
never trains anything.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gasnas.api.space import Block, CostTerm, SearchSpace
from gasnas.errors import LatencyError
from gasnas.io import cache_dir

__all__ = ["LatencyEnv", "LatencyEstimator", "ExpectedLatency", "Calibration", "total_cost", "group_costs"]


@dataclass(frozen=True)
class LatencyEnv:
    """What the engine tells an estimator: the device to time on, where to cache, and how to report progress."""

    device: str = "cpu"
    cache_dir: Path = field(default_factory=lambda: cache_dir())
    #: classes of the networks to time (their classifier is part of the network)
    num_classes: int = 19
    #: ``progress(total, description)`` -> context manager with ``advance()``; see :mod:`gasnas.reporting`
    progress: Callable[..., Any] | None = None


@dataclass(frozen=True)
class Calibration:
    """A linear correction of summed block costs: ``ms = intercept + sum_g scale[g] * cost[g]``."""

    intercept: float = 0.0
    scales: Mapping[str, float] = field(default_factory=dict)

    def scale(self, group: str) -> float:
        return float(self.scales.get(group, self.scales.get("*", 1.0)))


def total_cost(terms: Sequence[CostTerm], block_cost: Callable[[Block], float],
               calibration: Calibration | None = None) -> float:
    """The (calibrated) cost of a concrete network: every term has exactly one candidate."""
    calibration = calibration or Calibration()
    total = calibration.intercept
    for term in terms:
        if len(term.candidates) != 1:
            raise LatencyError(f"a concrete network has a relaxed term ({term.key}); pass a sample")
        total += calibration.scale(term.group) * term.weight * sum(block_cost(b) for b in term.candidates[0])
    return total


def group_costs(terms: Sequence[CostTerm], block_cost: Callable[[Block], float]) -> dict[str, float]:
    """Uncalibrated cost per group of a concrete network (the features a calibration is fitted on)."""
    out: dict[str, float] = {}
    for term in terms:
        out[term.group] = out.get(term.group, 0.0) + term.weight * sum(block_cost(b) for b in term.candidates[0])
    return out


class ExpectedLatency(nn.Module):
    """E[LAT] over relaxed choices: ``sum_g s_g (fixed_g + sum_{key in g} w_key <p_key, cost_key>) + c``.

    Built from a space's :class:`CostTerm` s and a per-block cost. ``forward(probs)`` is differentiable in
    ``probs``; the costs are constants (buffers). ``exclude_zero`` renormalises each choice over its non-zero
    candidates, so the term tracks the operation a derivation would keep.
    """

    def __init__(self, terms: Sequence[CostTerm], block_cost: Callable[[Block], float],
                 calibration: Calibration | None = None, exclude_zero: bool = False) -> None:
        super().__init__()
        calibration = calibration or Calibration()
        constant = calibration.intercept
        self.keys: list[str] = []
        self._zero: dict[str, int | None] = {}
        self._weight: dict[str, float] = {}
        for term in terms:
            scale = calibration.scale(term.group) * term.weight
            costs = [sum(block_cost(b) for b in candidate) for candidate in term.candidates]
            if term.key is None:
                if len(costs) != 1:
                    raise LatencyError(f"cost term of group {term.group} has several candidates but no key")
                constant += scale * costs[0]
                continue
            self.keys.append(term.key)
            self.register_buffer(f"cost_{len(self.keys) - 1}", torch.tensor(costs, dtype=torch.float32) * scale)
            self._zero[term.key] = term.zero if exclude_zero else None
            self._weight[term.key] = term.weight
        self.register_buffer("constant", torch.tensor(float(constant)))

    def cost(self, key: str) -> Tensor:
        return getattr(self, f"cost_{self.keys.index(key)}")

    def kept_costs(self) -> dict[str, Tensor]:
        """Per relaxed choice, what each candidate adds to a derived network that keeps it (calibrated; not
        weighted by the share of such choices a derivation keeps): the price a latency-aware derivation pays."""
        return {key: getattr(self, f"cost_{i}") / (self._weight[key] or 1.0) for i, key in enumerate(self.keys)}

    def forward(self, probs: Mapping[str, Tensor]) -> Tensor:
        total = self.constant.clone()
        for i, key in enumerate(self.keys):
            p = probs[key]
            zero = self._zero.get(key)
            if zero is not None:
                mask = torch.ones_like(p)
                mask[zero] = 0.0
                p = p * mask / (p * mask).sum().clamp_min(1e-12)
            total = total + (p * getattr(self, f"cost_{i}")).sum()
        return total


class LatencyEstimator(ABC):
    """Estimates the latency (ms, batch 1) of a space's architectures at an input shape ``(1, 3, H, W)``."""

    #: what :meth:`estimate` returns: "ms", or another unit for proxies that are not calibrated to time
    unit: str = "ms"

    def __init__(self, options: Any = None, env: LatencyEnv | None = None) -> None:
        self.options = options
        self.env = env or LatencyEnv()

    def prepare(self, space: SearchSpace, input_shape: tuple[int, ...]) -> None:
        """Do expensive set-up (measure a table, load a cache) before a search; a no-op by default."""

    @abstractmethod
    def estimate(self, space: SearchSpace, sample: Mapping[str, Any], input_shape: tuple[int, ...]) -> float:
        """The latency of the network of ``sample``, in :attr:`unit`."""

    def expected(self, space: SearchSpace, input_shape: tuple[int, ...]) -> ExpectedLatency | None:
        """A differentiable expected-latency module over the space's relaxed choices, or ``None`` if this
        estimator cannot give one (it times whole networks)."""
        return None

    def describe(self) -> str:
        """Device, runtime, threads and provider, for reports."""
        return type(self).__name__
