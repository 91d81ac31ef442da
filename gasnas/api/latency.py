"""The latency estimator contract, and the differentiable expected latency built from block costs.

An estimator gives ``estimate(space, sample) -> ms`` for concrete architectures. Estimators built on per-block
costs (lookup tables, FLOPs) also give :meth:`LatencyEstimator.expected`: an :class:`ExpectedLatency` module
that maps relaxed mixing weights to the expected latency, differentiable in the weights. A latency estimator
never trains anything.
"""

from __future__ import annotations

import math
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


def _concrete(term: CostTerm) -> None:
    if len(term.candidates) != 1 or term.given:
        raise LatencyError(f"a concrete network has a relaxed term ({term.key}); pass a sample")


def total_cost(terms: Sequence[CostTerm], block_cost: Callable[[Block], float],
               calibration: Calibration | None = None) -> float:
    """The (calibrated) cost of a concrete network: every term has exactly one candidate."""
    calibration = calibration or Calibration()
    total = calibration.intercept
    for term in terms:
        _concrete(term)
        total += calibration.scale(term.group) * term.weight * sum(block_cost(b) for b in term.candidates[0])
    return total


def group_costs(terms: Sequence[CostTerm], block_cost: Callable[[Block], float]) -> dict[str, float]:
    """Uncalibrated cost per group of a concrete network (the features a calibration is fitted on)."""
    out: dict[str, float] = {}
    for term in terms:
        _concrete(term)
        out[term.group] = out.get(term.group, 0.0) + term.weight * sum(block_cost(b) for b in term.candidates[0])
    return out


class ExpectedLatency(nn.Module):
    """E[LAT] over relaxed choices: ``c + sum_terms s_g w P(given) E_{keys}[cost]``.

    Built from a space's :class:`CostTerm` s and a per-block cost; a term's expectation runs over the joint
    distribution of its keys (independent choices) and is weighted by the probability of its ``given``
    alternatives. ``forward(probs)`` is differentiable in ``probs``; the costs are constants (buffers).
    ``exclude_zero`` renormalises each choice over its non-zero candidates, so the term tracks the operation a
    derivation would keep. :attr:`keys` lists every choice the expectation reads.

    A loss that relaxes only some choices (FasterSeg's decoupled latency) passes the others as constants: the
    expectation is then differentiable in the relaxed ones only.
    """

    def __init__(self, terms: Sequence[CostTerm], block_cost: Callable[[Block], float],
                 calibration: Calibration | None = None, exclude_zero: bool = False) -> None:
        super().__init__()
        calibration = calibration or Calibration()
        constant = calibration.intercept
        self.keys: list[str] = []
        self._terms: list[tuple[tuple[str, ...], tuple[int | None, ...], float, tuple]] = []
        memo: dict[str, float] = {}

        def cost(blocks: tuple[Block, ...]) -> float:
            total = 0.0
            for b in blocks:
                if b.signature not in memo:
                    memo[b.signature] = block_cost(b)
                total += memo[b.signature]
            return total

        for term in terms:
            scale = calibration.scale(term.group) * term.weight
            costs = [cost(candidate) for candidate in term.candidates]
            keys = term.keys
            if not keys and not term.given:
                if len(costs) != 1:
                    raise LatencyError(f"cost term of group {term.group} has several candidates but no key")
                constant += scale * costs[0]
                continue
            if len(term.zeros) != len(keys):
                raise LatencyError(f"cost term {keys} of group {term.group}: zero has {len(term.zeros)} entries "
                                   f"for {len(keys)} keys")
            for key in (*keys, *(k for alternative in term.given for k, _ in alternative)):
                if key not in self.keys:
                    self.keys.append(key)
            self.register_buffer(f"cost_{len(self._terms)}", torch.tensor(costs, dtype=torch.float32) * scale)
            zeros = term.zeros if exclude_zero else (None,) * len(keys)
            self._terms.append((keys, zeros, term.weight, term.given))
        self.register_buffer("constant", torch.tensor(float(constant)))
        self._shapes: dict[int, list[int]] = {}

    def _cost(self, i: int, probs: Mapping[str, Tensor]) -> Tensor:
        """Term ``i``'s costs shaped by its keys' candidate counts (checked against the term)."""
        keys = self._terms[i][0]
        flat = getattr(self, f"cost_{i}")
        shape = [len(probs[k]) for k in keys]
        if math.prod(shape) != flat.numel():
            raise LatencyError(f"cost term over {', '.join(keys)} has {flat.numel()} candidates, but the choices "
                               f"have {' x '.join(map(str, shape))}: a term over several choices needs one "
                               "candidate per combination, row-major")
        self._shapes[i] = shape
        return flat.reshape(shape)

    def kept_costs(self) -> dict[str, Tensor]:
        """Per relaxed choice, what each candidate adds to a derived network that keeps it (calibrated; not
        weighted by the share of such choices a derivation keeps): the price a latency-aware derivation pays.
        A term over several choices charges each its main effect (the mean over the others' candidates); the
        terms of one choice are averaged."""
        sums: dict[str, Tensor] = {}
        counts: dict[str, int] = {}
        for i, (keys, _, weight, _) in enumerate(self._terms):
            flat = getattr(self, f"cost_{i}") / (weight or 1.0)
            if len(keys) == 1:
                effects = {keys[0]: flat}
            else:
                if i not in self._shapes:
                    raise LatencyError(f"kept_costs of the term over {', '.join(keys)} needs its choices' sizes: "
                                       "evaluate the expectation once first")
                full = flat.reshape(self._shapes[i])
                effects = {k: full.mean(dim=[d for d in range(len(keys)) if d != j]) for j, k in enumerate(keys)}
            for k, v in effects.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
                counts[k] = counts.get(k, 0) + 1
        return {k: v / counts[k] for k, v in sums.items()}

    def _given(self, probs: Mapping[str, Tensor]) -> Tensor | None:
        """Per term, the summed probability of its ``given`` alternatives (1 for a term without): one gather
        over all alternatives of all terms, each a product of candidate probabilities."""
        if not any(given for *_, given in self._terms):
            return None
        flat = torch.cat([probs[k].reshape(-1) for k in self.keys] + [self.constant.new_ones(1)])
        sizes = tuple(len(probs[k]) for k in self.keys)
        if getattr(self, "_given_sizes", None) != sizes:  # index the alternatives into ``flat`` once
            offset, at = {}, 0
            for k, n in zip(self.keys, sizes):
                offset[k], at = at, at + n
            rows, owner = [], []
            for i, (*_, given) in enumerate(self._terms):
                for alternative in (given or ((),)):
                    rows.append([offset[k] + c for k, c in alternative])
                    owner.append(i)
            width = max(1, max(len(r) for r in rows))
            index = torch.tensor([r + [at] * (width - len(r)) for r in rows], device=flat.device)
            self._given_index, self._given_owner = index, torch.tensor(owner, device=flat.device)
            self._given_sizes = sizes
        shares = flat[self._given_index.to(flat.device)].prod(dim=1)
        return flat.new_zeros(len(self._terms)).index_add(0, self._given_owner.to(flat.device), shares)

    def forward(self, probs: Mapping[str, Tensor]) -> Tensor:
        total = self.constant.clone()
        given_p = self._given(probs)
        for i, (keys, zeros, _, given) in enumerate(self._terms):
            value = self._cost(i, probs) if keys else getattr(self, f"cost_{i}")[0]
            for key, zero in zip(keys, zeros):
                p = probs[key]
                if zero is not None:
                    mask = torch.ones_like(p)
                    mask[zero] = 0.0
                    p = p * mask / (p * mask).sum().clamp_min(1e-12)
                value = torch.tensordot(p, value, dims=1)
            if given:
                value = value * given_p[i]
            total = total + value
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

    def estimate_many(self, space: SearchSpace, samples: Sequence[Mapping[str, Any]], input_shape: tuple[int, ...],
                      advance: Callable[[], object] | None = None) -> list[float]:
        """The latencies of the networks of ``samples``, in their order, calling ``advance`` after each (a
        progress bar's). One :meth:`estimate` after another by default; an estimator that times whole networks may
        time them together."""
        out = []
        for sample in samples:
            out.append(self.estimate(space, sample, input_shape))
            if advance is not None:
                advance()
        return out

    def expected(self, space: SearchSpace, input_shape: tuple[int, ...]) -> ExpectedLatency | None:
        """A differentiable expected-latency module over the space's relaxed choices, or ``None`` if this
        estimator cannot give one (it times whole networks)."""
        return None

    def describe(self) -> str:
        """Device, runtime, threads and provider, for reports."""
        return type(self).__name__
