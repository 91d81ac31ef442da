"""The evolution's outputs beside the architectures: ``pareto.yaml`` (the front) and ``pareto.png``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from gasnas.api import atomic_write_text
from gasnas_plugins.strategies.evolution.evolution import Candidate

__all__ = ["write_front", "draw_front"]


def write_front(path: Path, front: Sequence[tuple[str, Candidate]], *, limit: float | None, unit: str,
                metric: str) -> Path:
    """The Pareto set, fastest first: id, latency, score and sample of each architecture."""
    data = {
        "latency_limit": limit,
        "latency_unit": unit,
        "metric": metric,
        "front": [{"id": arch_id, "latency": round(c.latency, 6), metric: round(c.score, 6),
                   "loss": round(c.loss, 6), "sample": c.sample} for arch_id, c in front],
    }
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
    return path


def draw_front(path: Path, scored: Sequence[Candidate], front: Sequence[Candidate], best: Candidate, *,
               limit: float | None, unit: str, metric: str) -> Path:
    """Every scored architecture (grey), the front (a staircase), the best under the limit (a star), the limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([c.latency for c in scored], [c.score for c in scored], s=14, color="0.65", label="scored")
    xs, ys = [c.latency for c in front], [c.score for c in front]
    ax.step(xs, ys, where="post", color="tab:blue", lw=1.2)
    ax.scatter(xs, ys, s=28, color="tab:blue", zorder=3, label="Pareto front")
    ax.scatter([best.latency], [best.score], s=160, marker="*", color="tab:red", zorder=4, label="best under limit")
    if limit is not None:
        ax.axvline(limit, color="tab:red", ls="--", lw=1, label=f"limit {limit:.4g} {unit}")
    ax.set_xlabel(f"estimated latency ({unit})")
    ax.set_ylabel(f"val {metric} (supernet weights, BN recalibrated)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
