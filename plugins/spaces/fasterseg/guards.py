"""FasterSeg's derivation guards against skip collapse, and its choice of head by accuracy and latency (no torch).

From FasterSeg's derivation (``search/model_seg.py``, ``alphas2ops_path_width``), applied to each branch's path
(its cells from layer 0 to the branch end, in order):

- a downsampling (stride-2) cell is never a skip: the skip is replaced by the cell's next-best operation;
- no all-skip segment: the cells a path runs at one scale after downsampling into it (up to the next
  downsampling or the branch end) may not all be skips; if they are, the one whose skip scores lowest takes its
  next-best operation (the scale 0 segment, between the stem and the first downsampling, is not guarded, as in
  FasterSeg's code);
- a cap: at most ``L - round(L / 3) - 2 b`` skips on the path of the branch ending at scale ``b`` (FasterSeg's
  minimum depth ``round(L / 3) + 2 b`` of cells that are not skips), the highest-scoring skips kept and the others
  replaced by their next-best operations. Ours: the cap can be set instead (``max_skips``), and a cap below zero
  counts as zero.

The two branches share cells: the rules run for the finer branch, then for the coarser one on the result. A rule
only ever turns a skip into another operation, so the second branch cannot undo what the first one needed.

The head choice (FasterSeg's ``objective_acc_lat`` in ``search/train_search.py``): among the candidate heads,
each with the accuracy and latency of its derived network, the head maximising
``accuracy * (latency / target) ** -exponent`` (FasterSeg: target 8.3 ms, exponent 0.07). The target scales every
head's objective by the same factor, so it does not change the choice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gasnas_plugins.spaces.fasterseg.options import FasterSegSpec

__all__ = ["Guards", "SKIP", "branch_path", "skip_cap", "violations", "repair", "head_objective", "best_head"]

#: the operation the guards limit
SKIP = "skip"
Cell = tuple[int, int]


@dataclass(frozen=True)
class Guards:
    """Which of FasterSeg's derivation rules hold (see the module docstring)."""

    enabled: bool = True
    #: at most this many skips per branch path; None: FasterSeg's rule (:func:`skip_cap`)
    max_skips: int | None = None
    #: allow a skip as a downsampling (stride-2) cell
    skip_on_downsampling: bool = False


def _op(layer: int, scale: int) -> str:
    return f"layer{layer}/scale{scale}/op"


def _input(sample: Mapping[str, Any], cell: Cell) -> str:
    """The input ``cell`` reads: the sample's choice where it has two, else the only one (see network.inputs_of)."""
    layer, scale = cell
    if scale == 0:
        return "keep"
    if layer == scale:
        return "down"
    return sample[f"layer{layer}/scale{scale}/input"]


def branch_path(spec: FasterSegSpec, sample: Mapping[str, Any], branch: int) -> list[Cell]:
    """The cells of the path that ends at ``(L - 1, branch)``, from layer 0 on."""
    path, cell = [], (spec.layers - 1, branch)
    while cell[0] >= 0:
        path.append(cell)
        cell = (cell[0] - 1, cell[1] - (_input(sample, cell) == "down"))
    return path[::-1]


def skip_cap(spec: FasterSegSpec, guards: Guards, branch: int) -> int:
    """The most skips the path of the branch ending at scale ``branch`` may hold."""
    if guards.max_skips is not None:
        return guards.max_skips
    return max(0, spec.layers - round(spec.layers / 3) - 2 * branch)


def _segments(sample: Mapping[str, Any], path: list[Cell]) -> list[list[Cell]]:
    """The runs of cells a path keeps at a scale it downsampled into (scale > 0), one list per scale."""
    runs: dict[int, list[Cell]] = {}
    for cell in path:
        if cell[1] > 0 and _input(sample, cell) == "keep":
            runs.setdefault(cell[1], []).append(cell)
    return list(runs.values())


def violations(spec: FasterSegSpec, guards: Guards, sample: Mapping[str, Any],
               branches: tuple[int, ...] | None = None) -> list[str]:
    """What in ``sample`` breaks the guards, one line each (empty: it holds them, or they are off)."""
    if not guards.enabled:
        return []
    out = []
    for branch in branches or spec.branches:
        path = branch_path(spec, sample, branch)
        name = f"branch 1/{8 * 2 ** branch}"
        if not guards.skip_on_downsampling:
            out += [f"{name}: {_op(*c)} is a skip on a downsampling cell" for c in path
                    if c[1] > 0 and _input(sample, c) == "down" and sample[_op(*c)] == SKIP]
        for run in _segments(sample, path):
            if all(sample[_op(*c)] == SKIP for c in run):
                out.append(f"{name}: every cell it keeps at 1/{8 * 2 ** run[0][1]} is a skip "
                           f"({', '.join(_op(*c) for c in run)})")
        skips = sum(sample[_op(*c)] == SKIP for c in path)
        if skips > skip_cap(spec, guards, branch):
            out.append(f"{name}: {skips} skips on its path, at most {skip_cap(spec, guards, branch)}")
    return out


def repair(spec: FasterSegSpec, guards: Guards, sample: Mapping[str, Any], skip_score: Callable[[Cell], float],
           replacement: Callable[[Cell], str], branches: tuple[int, ...] | None = None) -> dict[str, Any]:
    """``sample`` with the guards made to hold, FasterSeg's way: ``skip_score(cell)`` ranks a cell's skip (higher:
    kept first), ``replacement(cell)`` is the operation a replaced skip becomes (never a skip)."""
    out = dict(sample)
    if not guards.enabled or SKIP not in spec.ops:
        return out

    def replace(cell: Cell) -> None:
        out[_op(*cell)] = replacement(cell)

    for branch in branches or spec.branches:
        path = branch_path(spec, out, branch)
        if not guards.skip_on_downsampling:
            for cell in path:
                if cell[1] > 0 and _input(out, cell) == "down" and out[_op(*cell)] == SKIP:
                    replace(cell)
        for run in _segments(out, path):
            if all(out[_op(*c)] == SKIP for c in run):
                replace(min(reversed(run), key=skip_score))
        skips = [c for c in path if out[_op(*c)] == SKIP]
        cap = skip_cap(spec, guards, branch)
        if len(skips) > cap:
            for cell in sorted(skips, key=skip_score, reverse=True)[cap:]:
                replace(cell)
    return out


def head_objective(accuracy: float, latency: float, target: float = 1.0, exponent: float = 0.07) -> float:
    """FasterSeg's ``objective_acc_lat``: ``accuracy * (latency / target) ** -exponent``."""
    if latency <= 0 or target <= 0:
        raise ValueError(f"latency {latency} and target {target} must be positive")
    return accuracy * (latency / target) ** -exponent


def best_head(evidence: Mapping[str, tuple[float, float]], exponent: float = 0.07) -> str:
    """The head whose (accuracy, latency) scores best under :func:`head_objective` (the first on a tie)."""
    if not evidence:
        raise ValueError("no head to choose from")
    return max(evidence, key=lambda head: head_objective(*evidence[head], exponent=exponent))
