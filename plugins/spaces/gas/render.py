"""Pictures of derived cells: one PNG per cell, inputs on the left, nodes left to right, labelled edges."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gasnas_plugins.spaces.gas.cells import input_label, op_label
from gasnas_plugins.spaces.gas.options import GasSpec

__all__ = ["draw_cells"]

COLOURS = {"skip_connect": "#7f7f7f", "max_pool_3x3": "#17becf", "conv_3x3": "#d62728", "sep_conv_3x3": "#1f77b4",
           "dil_sep_conv_3x3_2": "#2ca02c", "dil_sep_conv_3x3_4": "#9467bd", "dil_sep_conv_3x3_8": "#ff7f0e"}


def _short(op: str) -> str:
    return op.replace("dil_sep_conv_3x3_", "dil").replace("_3x3", "").replace("_connect", "")


def draw_cells(spec: GasSpec, sample: Mapping[str, Any], directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(spec.cells):
        fig, ax = plt.subplots(figsize=(2.4 + 1.6 * spec.nodes, 3.4))
        pos: dict[Any, tuple[float, float]] = {0: (0.0, 1.0), 1: (0.0, -1.0)}
        for i in range(2, spec.nodes + 2):
            pos[i] = (float(i - 1), (0.55 if i % 2 else -0.55))
        pos["out"] = (float(spec.nodes + 1), 0.0)
        for i in range(2, spec.nodes + 2):
            for s in (0, 1):
                src = sample[input_label(k, i, s)][0]
                op = sample[op_label(k, i, s)]
                (x0, y0), (x1, y1) = pos[src], pos[i]
                bend = 0.3 if s else -0.3
                colour = COLOURS.get(op, "black")
                ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(
                    arrowstyle="-|>", color=colour, lw=1.6, connectionstyle=f"arc3,rad={bend}",
                    shrinkA=13, shrinkB=13))
                ax.text((x0 + x1) / 2, (y0 + y1) / 2 + bend * 0.5, _short(op), fontsize=7, ha="center",
                        va="center", color=colour, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
            ax.annotate("", pos["out"], pos[i], arrowprops=dict(arrowstyle="-|>", color="#bbbbbb", lw=0.8,
                                                                 shrinkA=13, shrinkB=13, linestyle="--"))
        names: dict[Any, str] = {0: f"c{k - 2}" if k >= 2 else "stem", 1: f"c{k - 1}" if k >= 1 else "stem",
                                 "out": f"c{k}"}
        for key, (x, y) in pos.items():
            label = names[key] if key in names else f"n{key - 2}"
            colour = "#ffe9a8" if key in (0, 1) else "#c7e9c0" if key == "out" else "#dce6f5"
            ax.text(x, y, label, ha="center", va="center", fontsize=8,
                    bbox=dict(boxstyle="circle,pad=0.4", fc=colour, ec="#444444"))
        kind = "reduction" if spec.is_reduction(k) else "normal"
        ax.set_title(f"cell {k} ({kind}, {spec.cell_channels(k)} channels)", fontsize=10)
        ax.set_xlim(-0.5, spec.nodes + 1.5)
        ax.set_ylim(-1.5, 1.5)
        ax.axis("off")
        fig.tight_layout()
        path = directory / f"cell{k}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths
