"""Deriving architectures from a supernet's probabilities: distinct networks, and a latency budget met.

A supernet's :meth:`~gasnas.api.space.Supernet.derive` ranks samples by summed log-probabilities. Two things are
layered on it here, for every space:

- **distinct networks**: samples that build the same network (``space.canonical``) count once, so that a top-k
  holds k different networks;
- **a cap on one candidate per cell** (P-DARTS' rule against skip collapse: at most ``cap`` skip connections
  per cell): in each group (cell) that keeps more, that candidate's log-score is lowered by the smallest
  penalty that brings the group to the cap;
- **a latency target**: the scores become ``log p - mu * cost`` (the latency each candidate adds when kept) and
  ``mu`` is bisected so that the derived network's estimated latency comes as close to the target as the
  probabilities allow without exceeding it. ``mu > 0`` trades probability for speed where the search is least
  sure; ``mu < 0`` spends budget the most probable architecture leaves unused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gasnas.api.space import SearchSpace, Supernet, log_scores

__all__ = ["Cap", "derive_distinct", "derive_for_latency", "log_probability"]

Sample = dict[str, Any]
#: how far mu is bisected: the derivation's latency stops changing long before
BISECTION_STEPS = 40
#: the largest |mu| tried, in units of 1 / (the costliest candidate): beyond the log-probability differences of
#: any search, and small enough that exp(-mu * cost) stays finite in float64 (|mu * cost| <= 512 < 709). Beyond it
#: a negative mu overflowed to inf for every candidate with a cost, and the derivation of a target above the
#: space's reach degenerated to the first such candidate everywhere -- the cheapest one (all max pooling)
MU_LIMIT = 2.0 ** 9
#: the largest log-score penalty a cap tries: far beyond any log-probability difference (log_scores floors at -1e4)
CAP_PENALTY_LIMIT = 2.0 ** 16
#: bisection steps of a cap's penalty: its bracket narrowed 4096-fold
CAP_BISECTION_STEPS = 12


@dataclass(frozen=True)
class Cap:
    """At most ``limit`` kept ``candidate`` operations per group (cell) of relaxed choices."""

    candidate: str
    limit: int

    def counts(self, supernet: Supernet, sample: Mapping[str, Any]) -> dict[str, int]:
        """Per group, how many kept operations of ``sample`` are the capped candidate."""
        mixing = supernet.mixing_for(sample)
        out: dict[str, int] = {}
        for choice in supernet.relaxed_choices():
            if self.candidate not in choice.candidates:
                continue
            index = choice.candidates.index(self.candidate)
            out[choice.group] = out.get(choice.group, 0) + int(float(mixing[choice.key][index]) > 0)
        return out

    def holds(self, supernet: Supernet, sample: Mapping[str, Any]) -> bool:
        return all(n <= self.limit for n in self.counts(supernet, sample).values())

    def apply(self, supernet: Supernet, weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``weights`` with the capped candidate's score lowered, group by group, by the smallest factor (found
        by bisection of its log) under which the best sample keeps at most ``limit`` of it in that group."""
        weights = {k: v.detach().double().cpu() for k, v in weights.items()}
        choices = [c for c in supernet.relaxed_choices() if self.candidate in c.candidates and c.key in weights]
        penalty = {c.group: 0.0 for c in choices}

        def penalised() -> dict[str, Tensor]:
            out = dict(weights)
            for c in choices:
                if penalty[c.group]:
                    w = out[c.key].clone()
                    w[c.candidates.index(self.candidate)] *= math.exp(-penalty[c.group])
                    out[c.key] = w
            return out

        def counts() -> dict[str, int]:
            (sample, _), = supernet.derive(penalised(), 1)
            return self.counts(supernet, sample)

        over = [g for g, n in counts().items() if n > self.limit]
        # groups are independent in a derivation: every group's penalty is bisected at once, one derive a step
        low, high = dict.fromkeys(over, 0.0), dict.fromkeys(over, 1.0)
        penalty.update(high)
        while True:
            still = [g for g, n in counts().items() if g in high and n > self.limit and high[g] < CAP_PENALTY_LIMIT]
            if not still:
                break
            for g in still:
                low[g], high[g] = high[g], 2 * high[g]
                penalty[g] = high[g]
        for _ in range(CAP_BISECTION_STEPS):  # the smallest penalty that holds: the least change to the scores
            penalty.update({g: (low[g] + high[g]) / 2 for g in over})
            for g, n in counts().items():
                if g in over:
                    if n <= self.limit:
                        high[g] = penalty[g]
                    else:
                        low[g] = penalty[g]
        penalty.update(high)
        return penalised()


def derive_distinct(supernet: Supernet, space: SearchSpace, weights: Mapping[str, Tensor],
                    top_k: int, cap: Cap | None = None) -> list[tuple[Sample, float]]:
    """The ``top_k`` best samples under ``weights`` (positive scores per candidate, e.g. probabilities), best
    first, of which no two build the same network. With ``cap``, those that hold it come first; the rest only
    fill up when too few do (weights so lopsided that the penalty cannot move them, e.g. an unreachable
    latency target's multiplier)."""
    if cap is not None:
        weights = cap.apply(supernet, weights)
    asked = top_k
    while True:
        ranked = supernet.derive(weights, asked)
        out, spill, seen = [], [], set()
        for sample, score in ranked:
            key = repr(sorted(space.canonical(sample).items()))
            if key in seen:
                continue
            seen.add(key)
            (out if cap is None or cap.holds(supernet, sample) else spill).append((sample, score))
            if len(out) == top_k:
                return out
        if len(ranked) < asked or asked >= 64 * top_k:  # the space holds no more distinct networks
            return (out + spill)[:top_k]
        asked *= 4


def _penalised(logp: Mapping[str, Tensor], costs: Mapping[str, Tensor], mu: float) -> dict[str, Tensor]:
    return {k: torch.exp(v - mu * costs[k]) if k in costs else torch.exp(v) for k, v in logp.items()}


def derive_for_latency(supernet: Supernet, space: SearchSpace, probs: Mapping[str, Tensor], top_k: int, *,
                       costs: Mapping[str, Tensor], estimate: Callable[[Mapping[str, Any]], float], target: float,
                       mode: str = "target", cap: Cap | None = None) -> tuple[list[tuple[Sample, float]], float]:
    """``top_k`` distinct samples derived under the latency ``target`` and the multiplier ``mu`` used.

    ``costs``: per relaxed choice, each candidate's latency when kept (see ``ExpectedLatency.kept_costs``);
    ``estimate``: a derived sample's latency in the same unit. ``mode`` ``limit`` only enforces the target
    (``mu >= 0``); ``target`` also spends what is left of it (``mu`` may be negative). Scores are the plain
    log-probabilities of the returned samples; those that meet the target come first, then (when fewer than
    ``top_k`` do) the next ones over it. ``cap`` holds for every mu.
    """
    logp = log_scores(probs)
    costs = {k: v.detach().double().cpu() for k, v in costs.items()}
    scale = max((float(c.abs().max()) for c in costs.values()), default=0.0)
    if scale == 0:
        return derive_distinct(supernet, space, probs, top_k, cap), 0.0

    def latency(mu: float) -> float:
        weights = _penalised(logp, costs, mu)
        (sample, _), = supernet.derive(cap.apply(supernet, weights) if cap is not None else weights, 1)
        return float(estimate(sample))

    # mu is in log-probability per unit of latency: widen the bracket until it holds the target's crossing
    step = 1.0 / scale
    if latency(0.0) <= target:
        mu = 0.0
        if mode != "limit":
            high, low = 0.0, -step
            while latency(low) <= target and low > -MU_LIMIT * step:
                high, low = low, 2 * low
            mu = low if latency(low) <= target else _bisect(latency, target, low, high)
    else:
        low, high = 0.0, step
        while latency(high) > target and high < MU_LIMIT * step:
            low, high = high, 2 * high
        mu = high if latency(high) > target else _bisect(latency, target, low, high)
    ranked = derive_distinct(supernet, space, _penalised(logp, costs, mu), 4 * top_k, cap)  # the cap applied there
    scored = [(sample, log_probability(supernet, sample, logp), float(estimate(sample))) for sample, _ in ranked]
    under = [(s, lp) for s, lp, lat in scored if lat <= target]
    over = [(s, lp) for s, lp, lat in scored if lat > target]
    return (under + over)[:top_k], mu


def _bisect(latency: Callable[[float], float], target: float, low: float, high: float) -> float:
    """The smallest mu in (low, high] with latency(mu) <= target, given latency(low) > target >= latency(high)."""
    for _ in range(BISECTION_STEPS):
        mid = (low + high) / 2
        if latency(mid) <= target:
            high = mid
        else:
            low = mid
        if high - low < 1e-6 * max(abs(high), 1e-9):
            break
    return high


def log_probability(supernet: Supernet, sample: Mapping[str, Any], logp: Mapping[str, Tensor]) -> float:
    """The score a latency-aware derivation exports (``log_probability``): the summed log-probabilities of the
    candidates ``sample`` keeps (its one-hot mixing against ``logp``; a choice's "no operation" candidate is what
    an unkept edge holds, not a kept candidate)."""
    mixing = supernet.mixing_for(sample)
    total = 0.0
    for choice in supernet.relaxed_choices():
        if choice.key not in logp:
            continue
        weights = mixing[choice.key].detach().float().cpu()
        if choice.zero is not None:
            weights[choice.zero] = 0.0
        total += float((weights * logp[choice.key]).sum())
    return total if math.isfinite(total) else -math.inf
