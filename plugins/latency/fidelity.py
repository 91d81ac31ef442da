"""How good an estimator is: sampling architectures to check, error and rank metrics, and calibration fits."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gasnas.api import Categorical
from gasnas.api.latency import Calibration
from gasnas.api.space import SearchSpace

__all__ = ["uniform_samples", "diverse_samples", "spread_samples", "kendall_tau", "mape", "within",
           "fit_calibration"]


def _distinct(space: SearchSpace, n: int, draw: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    """Up to ``n`` distinct valid architectures from ``draw`` (given up after ``50 n`` draws)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(50 * n):
        if len(out) == n:
            break
        sample = draw()
        key = repr(sorted(sample.items()))
        if key not in seen:
            space.validate(sample)
            seen.add(key)
            out.append(sample)
    return out


def uniform_samples(space: SearchSpace, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` distinct architectures as the space samples them (every choice uniform)."""
    rng = random.Random(seed)
    return _distinct(space, n, lambda: space.random_sample(rng))


def diverse_samples(space: SearchSpace, n: int, seed: int, concentration: float = 0.5) -> list[dict[str, Any]]:
    """``n`` distinct architectures spread from cheap to costly.

    Uniform samples all look alike (each averages many independent choices), so each architecture first draws
    its own preference over the values of the space's categorical choices from a Dirichlet(``concentration``)
    and then samples every such choice with it; structure (e.g. inputs) is sampled as the space samples it.
    """
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    values = sorted({repr(v) for m in space.choices().values() if isinstance(m, Categorical) for v in m.values})

    def draw() -> dict[str, Any]:
        sample = space.random_sample(rng)
        preference = dict(zip(values, np_rng.dirichlet([concentration] * len(values)))) if values else {}
        for label, mutable in space.choices().items():
            if isinstance(mutable, Categorical):
                weights = [preference[repr(v)] + 1e-9 for v in mutable.values]
                sample[label] = rng.choices(mutable.values, weights=weights)[0]
        return sample

    return _distinct(space, n, draw)


def spread_samples(space: SearchSpace, n: int, seed: int, proxy: Callable[[Mapping[str, Any]], float],
                   pool: int = 10) -> list[dict[str, Any]]:
    """``n`` architectures covering ``proxy``'s range evenly, in a seeded random order.

    Draws ``pool * n`` :func:`diverse_samples`, then for ``n`` targets evenly spaced between the cheapest and the
    costliest by ``proxy`` (e.g. counted MACs: no timing) keeps the nearest architecture not yet taken. Diverse
    samples bunch in the middle of the range, where architectures a few percent apart cannot be told apart by
    any measurement; spreading them makes a rank correlation measure the estimator rather than the noise.
    The order is shuffled so that any prefix (e.g. a calibration set) spans the range too.
    """
    candidates = diverse_samples(space, pool * n, seed)
    if len(candidates) <= n:
        return candidates
    costs = [float(proxy(s)) for s in candidates]
    lo, hi = min(costs), max(costs)
    left = set(range(len(candidates)))
    chosen: list[int] = []
    for k in range(n):
        target = lo + (hi - lo) * (k + 0.5) / n
        best = min(left, key=lambda i: (abs(costs[i] - target), costs[i], i))  # ties: the cheaper
        left.remove(best)
        chosen.append(best)
    random.Random(seed).shuffle(chosen)
    return [candidates[i] for i in chosen]


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b between two rankings (ties handled)."""
    n = len(a)
    concordant = discordant = ties_a = ties_b = 0
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b))
    return (concordant - discordant) / denominator if denominator else 0.0


def mape(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Mean absolute percentage error, in percent."""
    return float(np.mean([abs(p - m) / m for p, m in zip(predicted, measured)]) * 100)


def within(predicted: Sequence[float], measured: Sequence[float], tolerance: float = 0.10) -> float:
    """Share (0-1) of predictions within +-``tolerance`` of the measurement."""
    return float(np.mean([abs(p - m) <= tolerance * m for p, m in zip(predicted, measured)]))


def _design(features: Sequence[Mapping[str, float]], groups: Sequence[str]) -> np.ndarray:
    return np.array([[f.get(g, 0.0) for g in groups] for f in features], dtype=np.float64)


def _ridge(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[float, np.ndarray]:
    """min ||y - c - x s||^2 + lam ||s - 1||^2 (scales shrink toward 1: the table as measured)."""
    xm, ym = x.mean(0), y.mean()
    xc, yc = x - xm, y - ym - (x - xm).sum(1)  # solve for s' = s - 1
    a = xc.T @ xc + lam * np.eye(x.shape[1])
    s = np.linalg.solve(a, xc.T @ yc) + 1.0
    return float(ym - xm @ s), s


def fit_calibration(features: Sequence[Mapping[str, float]], measured: Sequence[float],
                    lambdas: Sequence[float] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)) -> tuple[Calibration, dict[str, float]]:
    """A per-group linear correction ``ms = c + sum_g s_g cost_g`` fitted to end-to-end measurements.

    The ridge strength is chosen by leave-one-out error relative to the measurement. The result stays linear in
    the block costs, so the expected latency over relaxed choices stays differentiable.
    """
    groups = sorted({g for f in features for g in f})
    x = _design(features, groups)
    y = np.asarray(measured, dtype=np.float64)
    scale = float(np.mean(np.sum(x, 1) ** 2)) or 1.0
    best = (math.inf, 0.0)
    for lam in lambdas:
        errors = []
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            c, s = _ridge(x[keep], y[keep], lam * scale)
            errors.append(abs(c + x[i] @ s - y[i]) / y[i])
        best = min(best, (float(np.mean(errors)), lam))
    c, s = _ridge(x, y, best[1] * scale)
    return Calibration(c, dict(zip(groups, map(float, s)))), {"loo_mape": best[0] * 100, "ridge": best[1],
                                                                "n": float(len(y))}
