"""A picture of a derived network: the grid of layers (left to right) and scales (1/8 at the top), the cells on
the two branches' paths, each arrow coloured by the operation of the cell it enters, and each cell naming its
width."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gasnas_plugins.spaces.fasterseg.network import (branches_of, chosen_input, op_label, source_of, used_cells,
                                                     width_label)
from gasnas_plugins.spaces.fasterseg.options import SCALES, FasterSegSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["paths_figure", "draw_paths", "COLOURS"]

#: the colour of each operation's arrows
COLOURS = {"skip": "#404040", "conv": "#d62728", "conv_2x": "#1f77b4", "conv_downup": "#2ca02c",
           "conv_2x_downup": "#9467bd"}


def paths_figure(spec: FasterSegSpec, sample: Mapping[str, Any]) -> Figure:
    """The cells of ``sample``'s two branches on the (layer, scale) grid, with an operation legend."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(2.5 + 1.1 * (spec.layers + 2), 3.6))
    ax = fig.add_subplot()
    cells = used_cells(spec, sample)
    for cell in cells:
        src = source_of(cell, chosen_input(cell, sample))
        ax.annotate("", (cell[0], -cell[1]), (src[0], -src[1]), arrowprops=dict(
            arrowstyle="-|>", color=COLOURS[sample[op_label(*cell)]], lw=1.8, shrinkA=12, shrinkB=12))
        ax.text(cell[0], -cell[1], f"{sample[width_label(*cell)]}/12", ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="circle,pad=0.3", fc="#dce6f5", ec="#444444"))
    ax.text(-1, 0, "stem", ha="center", va="center", fontsize=7,
            bbox=dict(boxstyle="round,pad=0.3", fc="#ffe9a8", ec="#444444"))
    branches = branches_of(spec, sample)
    head = (spec.layers, -sum(branches) / 2)
    for b in branches:
        ax.annotate("", head, (spec.layers - 1, -b), arrowprops=dict(arrowstyle="-|>", color="#b4b4b4", lw=0.9,
                                                                      shrinkA=12, shrinkB=12))
    ax.text(*head, "head", ha="center", va="center", fontsize=7,
            bbox=dict(boxstyle="round,pad=0.3", fc="#c7e9c0", ec="#444444"))
    used = [op for op in spec.ops if any(sample[op_label(*c)] == op for c in cells)]
    ax.legend(handles=[Line2D([], [], color=COLOURS[op], lw=1.8, label=op) for op in used], title="operation",
              loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title_fontsize=8, frameon=False)
    ax.set_yticks([-s for s in range(SCALES)], [f"1/{8 * 2 ** s}" for s in range(SCALES)])
    ax.set_xticks(range(spec.layers), [str(l) for l in range(spec.layers)])
    ax.set_xlabel("layer", fontsize=8)
    ax.set_xlim(-1.6, spec.layers + 0.6)
    ax.set_ylim(-SCALES + 0.4, 0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"FasterSeg network: branches at 1/{8 * 2 ** branches[0]} and 1/{8 * 2 ** branches[1]} "
                 "(cells: width in twelfths)", fontsize=10)
    fig.tight_layout()
    return fig


def draw_paths(spec: FasterSegSpec, sample: Mapping[str, Any], directory: Path) -> list[Path]:
    """``directory/paths.png``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "paths.png"
    paths_figure(spec, sample).savefig(path, dpi=120)
    return [path]
