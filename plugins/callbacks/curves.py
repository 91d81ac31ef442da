"""Draws the search's metric curves (one panel per metric, from metrics.jsonl) into ``curves.png``."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gasnas import hookimpl

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


#: metrics on a fixed scale: name -> (bottom, top, what the panel's title adds). The normalised entropy spans
#: [0, 1] (1: the architecture distribution is uniform); autoscaled, a move from 1.00 to 0.97 looked like a collapse.
FIXED_AXES = {"entropy": (0.0, 1.0, "normalised, 1 = uniform")}


def curves_figure(records: Sequence[Mapping[str, float]]) -> Figure | None:
    """One small panel per numeric metric against epoch; ``None`` when there is nothing to draw."""
    from matplotlib.figure import Figure

    keys = [k for k in records[0] if k not in ("epoch", "elapsed_s")] if records else []
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = (len(keys) + cols - 1) // cols
    fig = Figure(figsize=(4 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    epochs = [r["epoch"] + 1 for r in records]
    for ax, key in zip(axes.flat, keys):
        fixed = FIXED_AXES.get(key)
        ax.plot(epochs, [r.get(key, float("nan")) for r in records], marker="o", ms=3, clip_on=fixed is None)
        ax.set_title(key if fixed is None else f"{key} ({fixed[2]})", fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False)  # values as they are, never "+2.4" above the axis
        if fixed is not None:
            ax.set_ylim(fixed[0], fixed[1])
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def draw_curves(metrics_file: Path, out: Path) -> Path | None:
    """``out``: the curves of the records in ``metrics_file``; ``None`` when there is nothing to draw."""
    import json

    records = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    fig = curves_figure(records)
    if fig is None:
        return None
    fig.savefig(out, dpi=110)
    return out


@hookimpl
def gasnas_search_finished(run, result) -> None:
    metrics_file = Path(run.directory) / "metrics.jsonl"
    if not run.is_main or not metrics_file.is_file():
        return
    path = draw_curves(metrics_file, Path(run.directory) / "curves.png")
    if path is not None:
        result.files["curves"] = path
