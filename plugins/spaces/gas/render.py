"""Pictures of derived cells: one PNG per cell, inputs on the left, nodes left to right.

Each edge is coloured by its operation and a legend names the operations, so that no edge label can cover
another (with labels on the edges, the edges that cross in the middle of a cell piled their labels up).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gasnas_plugins.spaces.gas.cells import input_label, op_label
from gasnas_plugins.spaces.gas.options import GasSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["draw_cells", "cell_figure", "op_style"]

#: colour and line style of each operation's edges (the operations of ``options.OPS``)
STYLES: dict[str, tuple[str, str]] = {
    "zero": ("#c8c8c8", ":"), "skip_connect": ("#404040", "-."), "max_pool_3x3": ("#17becf", "-"),
    "conv_3x3": ("#d62728", "-"), "sep_conv_3x3": ("#1f77b4", "-"), "dil_sep_conv_3x3_2": ("#2ca02c", "-"),
    "dil_sep_conv_3x3_4": ("#9467bd", "-"), "dil_sep_conv_3x3_8": ("#ff7f0e", "-"),
}
#: for operations of a custom op list: colours no operation above uses
SPARE_COLOURS = ("#8c564b", "#e377c2", "#bcbd22", "#7f7f7f", "#aec7e8", "#98df8a", "#ff9896", "#c5b0d5")
#: the edges from each intermediate node to the cell output (the concatenation)
OUTPUT_STYLE = ("#b4b4b4", (0, (4, 3)))
NODE_COLOURS = {"input": "#ffe9a8", "node": "#dce6f5", "output": "#c7e9c0"}


def op_style(op: str, ops: tuple[str, ...]) -> tuple[str, Any]:
    """(colour, line style) of ``op``'s edges; an operation of a custom op list gets a spare colour by its place."""
    if op in STYLES:
        return STYLES[op]
    custom = [o for o in ops if o not in STYLES]
    index = custom.index(op) if op in custom else len(custom)
    return SPARE_COLOURS[index % len(SPARE_COLOURS)], "-"


def _positions(nodes: int) -> dict[Any, tuple[float, float]]:
    """Inputs 0 and 1 on the left, intermediate nodes left to right in alternating rows, the output on the right."""
    pos: dict[Any, tuple[float, float]] = {0: (0.0, 1.0), 1: (0.0, -1.0)}
    for i in range(2, nodes + 2):
        pos[i] = (float(i - 1), 0.55 if i % 2 else -0.55)
    pos["out"] = (float(nodes + 1), 0.0)
    return pos


def _names(k: int, nodes: int) -> dict[Any, str]:
    names: dict[Any, str] = {0: f"c{k - 2}" if k >= 2 else "stem", 1: f"c{k - 1}" if k >= 1 else "stem",
                             "out": f"c{k}"}
    names.update({i: f"n{i - 2}" for i in range(2, nodes + 2)})
    return names


def cell_figure(spec: GasSpec, sample: Mapping[str, Any], k: int) -> Figure:
    """Cell ``k`` of ``sample``: its nodes, one arrow per chosen input coloured by its operation, and a legend."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(2.4 + 1.6 * spec.nodes + 2.2, 3.4))
    ax = fig.add_subplot()
    pos = _positions(spec.nodes)
    used: list[str] = []
    for i in range(2, spec.nodes + 2):
        for s in (0, 1):
            op = sample[op_label(k, i, s)]
            colour, style = op_style(op, spec.ops)
            ax.annotate("", pos[i], pos[sample[input_label(k, i, s)][0]], arrowprops=dict(
                arrowstyle="-|>", color=colour, lw=1.8, linestyle=style,
                connectionstyle=f"arc3,rad={0.3 if s else -0.3}", shrinkA=13, shrinkB=13))
            if op not in used:
                used.append(op)
        ax.annotate("", pos["out"], pos[i], arrowprops=dict(arrowstyle="-|>", color=OUTPUT_STYLE[0], lw=0.9,
                                                             linestyle=OUTPUT_STYLE[1], shrinkA=13, shrinkB=13))
    names = _names(k, spec.nodes)
    for key, (x, y) in pos.items():
        kind = "input" if key in (0, 1) else "output" if key == "out" else "node"
        ax.text(x, y, names[key], ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="circle,pad=0.4", fc=NODE_COLOURS[kind], ec="#444444"))
    ordered = [o for o in spec.ops if o in used] + [o for o in used if o not in spec.ops]
    handles = [Line2D([], [], color=colour, linestyle=style, lw=1.8, label=op)
               for op in ordered for colour, style in [op_style(op, spec.ops)]]
    handles.append(Line2D([], [], color=OUTPUT_STYLE[0], linestyle=OUTPUT_STYLE[1], lw=0.9,
                          label=f"concatenated into c{k}"))
    ax.legend(handles=handles, title="operation", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
              title_fontsize=8, frameon=False)
    kind = "reduction" if spec.is_reduction(k) else "normal"
    ax.set_title(f"cell {k} ({kind}, {spec.cell_channels(k)} channels)", fontsize=10)
    ax.set_xlim(-0.5, spec.nodes + 1.3)
    ax.set_ylim(-1.5, 1.5)
    ax.axis("off")
    fig.tight_layout()
    return fig


def draw_cells(spec: GasSpec, sample: Mapping[str, Any], directory: Path) -> list[Path]:
    """``directory/cell{k}.png`` for every cell of ``sample``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(spec.cells):
        path = directory / f"cell{k}.png"
        cell_figure(spec, sample, k).savefig(path, dpi=120)
        paths.append(path)
    return paths
