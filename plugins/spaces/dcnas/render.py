"""A picture of a derived network: the grid of layers (left to right) and scales (1/4 at the top), the cells the
head reaches, each kept path as an arrow coloured by where it goes (same scale, down, up), and each cell naming
the operations of its nodes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gasnas_plugins.spaces.dcnas.cells import STEM, op_label
from gasnas_plugins.spaces.dcnas.network import kept_sources, used_cells
from gasnas_plugins.spaces.dcnas.options import DcnasSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["paths_figure", "draw_paths", "COLOURS", "SHORT"]

#: the colour of a path by the scale it moves to
COLOURS = {"same": "#404040", "down": "#1f77b4", "up": "#2ca02c"}
#: short operation names for the cell labels
SHORT = {"skip_connect": "skip", "max_pool_3x3": "pool", "conv_3x3": "conv", "sep_conv_3x3": "sep",
         "dil_sep_conv_3x3_2": "dil2", "dil_sep_conv_3x3_4": "dil4", "dil_sep_conv_3x3_8": "dil8"}


def _move(src, cell) -> str:
    scale = 0 if src == STEM else src[1]
    return "down" if scale < cell[1] else "up" if scale > cell[1] else "same"


def paths_figure(spec: DcnasSpec, sample: Mapping[str, Any]) -> Figure:
    """The cells of ``sample`` the head reaches on the (layer, scale) grid, with their kept paths."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(2.8 + 1.6 * (spec.layers + 2), 1.0 + 1.1 * spec.scales))
    ax = fig.add_subplot()
    cells = used_cells(spec, sample)
    moves = set()
    for cell in cells:
        for src in kept_sources(spec, cell, sample):
            move = _move(src, cell)
            moves.add(move)
            start = (-1, 0) if src == STEM else (src[0], -src[1])
            ax.annotate("", (cell[0], -cell[1]), start, arrowprops=dict(
                arrowstyle="-|>", color=COLOURS[move], lw=1.2, shrinkA=14, shrinkB=14,
                connectionstyle="arc3,rad=0.12"))
        ops = "\n".join(SHORT.get(sample[op_label(*cell, i)], sample[op_label(*cell, i)])
                        for i in range(1, spec.nodes + 1))
        ax.text(cell[0], -cell[1], ops, ha="center", va="center", fontsize=6,
                bbox=dict(boxstyle="round,pad=0.3", fc="#dce6f5", ec="#444444"))
    ax.text(-1, 0, "stem", ha="center", va="center", fontsize=7,
            bbox=dict(boxstyle="round,pad=0.3", fc="#ffe9a8", ec="#444444"))
    head = (spec.layers, -(spec.scales - 1) / 2)
    for s in range(spec.scales):
        ax.annotate("", head, (spec.layers - 1, -s), arrowprops=dict(arrowstyle="-|>", color="#b4b4b4", lw=0.9,
                                                                      shrinkA=14, shrinkB=12))
    ax.text(*head, "head", ha="center", va="center", fontsize=7,
            bbox=dict(boxstyle="round,pad=0.3", fc="#c7e9c0", ec="#444444"))
    ax.legend(handles=[Line2D([], [], color=COLOURS[m], lw=1.2, label=m) for m in COLOURS if m in moves],
              title="path", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title_fontsize=8, frameon=False)
    ax.set_yticks([-s for s in range(spec.scales)], [f"1/{spec.divisor(s)}" for s in range(spec.scales)])
    ax.set_xticks(range(spec.layers), [str(l) for l in range(spec.layers)])
    ax.set_xlabel("layer", fontsize=8)
    ax.set_xlim(-1.6, spec.layers + 0.6)
    ax.set_ylim(-spec.scales + 0.4, 0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"DCNAS network: {len(cells)} of {spec.layers * spec.scales} cells, {spec.inputs} paths kept per "
                 "cell (cells: node operations)", fontsize=10)
    fig.tight_layout()
    return fig


def draw_paths(spec: DcnasSpec, sample: Mapping[str, Any], directory: Path) -> list[Path]:
    """``directory/paths.png``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "paths.png"
    paths_figure(spec, sample).savefig(path, dpi=120)
    return [path]
