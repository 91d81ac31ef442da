"""Draws the search's metric curves (one panel per metric, from metrics.jsonl) into ``curves.png``."""

from __future__ import annotations

import logging
from pathlib import Path

from gasnas import hookimpl

log = logging.getLogger(__name__)


def draw_curves(metrics_file: Path, out: Path) -> Path | None:
    """One small panel per numeric metric against epoch; ``None`` when there is nothing to draw."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    keys = [k for k in records[0] if k not in ("epoch", "elapsed_s")] if records else []
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    epochs = [r["epoch"] + 1 for r in records]
    for ax, key in zip(axes.flat, keys):
        ax.plot(epochs, [r.get(key, float("nan")) for r in records], marker="o", ms=3)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


@hookimpl
def gasnas_search_finished(run, result) -> None:
    metrics_file = Path(run.directory) / "metrics.jsonl"
    if not run.is_main or not metrics_file.is_file():
        return
    path = draw_curves(metrics_file, Path(run.directory) / "curves.png")
    if path is not None:
        result.files["curves"] = path
