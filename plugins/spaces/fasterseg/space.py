"""The ``fasterseg`` search space: FasterSeg's multi-resolution space in NNI's sample format.

Labels, per cell ``(l, s)`` of the grid (layer ``l``, scale ``s``: 0 is 1/8, 1 is 1/16, 2 is 1/32; ``l >= s``):
``layer{l}/scale{s}/op`` (an operation name), ``layer{l}/scale{s}/width`` (twelfths of the scale's full width)
and, where the cell can read both, ``layer{l}/scale{s}/input`` (``keep`` or ``down``); with ``head_choice``,
``head`` (``1/8+1/32`` or ``1/16+1/32``: the branches the head fuses). A network holds the cells on the paths of
its two branches; :meth:`FasterSegSearchSpace.canonical` drops the labels of the others. With ``derive_guards``,
derivations and random samples hold FasterSeg's rules against skip collapse (``guards.py``).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from gasnas.api import Categorical, Mutable
from gasnas.api.space import Block, CostTerm, SearchSpace, refuse_edge_normalization, refuse_partial_channels
from gasnas_plugins.spaces.fasterseg.network import (Cell, FasterSegNetwork, FasterSegSupernet, Head, Stem,
                                                     chosen_input, grid, input_label, inputs_of, op_label, source_of,
                                                     used_cells, width_label)
from gasnas_plugins.spaces.fasterseg.guards import SKIP, Guards, repair, violations
from gasnas_plugins.spaces.fasterseg.network import HEAD, branches_of
from gasnas_plugins.spaces.fasterseg.ops import make_op
from gasnas_plugins.spaces.fasterseg.options import FasterSegSpaceOptions, FasterSegSpec, head_name, resolve

__all__ = ["FasterSegSearchSpace", "DECOUPLED_WEIGHTS"]


def _down(size: int, stride: int) -> int:
    return -(-size // stride)


class _HeadBlock(nn.Module):
    def __init__(self, head: Head, size: tuple[int, int]) -> None:
        super().__init__()
        self.head, self.size = head, size

    def forward(self, fine, coarse):
        return self.head(fine, coarse, self.size)


class FasterSegSearchSpace(SearchSpace):
    """Stem to 1/8 -> L layers of cells over 1/8, 1/16 and 1/32 -> two branches fused by a head."""

    def __init__(self, options: FasterSegSpaceOptions | None = None) -> None:
        self.options = options or FasterSegSpaceOptions()
        self.spec: FasterSegSpec = resolve(self.options)
        o = self.options
        self.guards = Guards(o.derive_guards, o.max_skips, o.skip_on_downsampling)
        self.grid = grid(self.spec)
        self._choices: dict[str, Mutable] = {}
        for cell in self.grid:
            self._choices[op_label(*cell)] = Categorical(self.spec.ops, label=op_label(*cell))
            if len(inputs_of(cell)) > 1:
                self._choices[input_label(*cell)] = Categorical(inputs_of(cell), label=input_label(*cell))
            self._choices[width_label(*cell)] = Categorical(self.spec.widths, label=width_label(*cell))
        if len(self.spec.heads) > 1:
            self._choices[HEAD] = Categorical(list(self.spec.head_names()), label=HEAD)

    def choices(self) -> Mapping[str, Mutable]:
        return self._choices

    def random_sample(self, rng: random.Random) -> dict[str, Any]:
        """Uniform choices; with ``derive_guards``, then made to hold the guards, each replaced skip becoming a
        uniformly drawn other operation (the skips kept by the cap drawn uniformly too)."""
        sample = super().random_sample(rng)
        others = [op for op in self.spec.ops if op != SKIP]
        ranks = {cell: rng.random() for cell in self.grid}
        return repair(self.spec, self.guards, sample, ranks.__getitem__, lambda cell: rng.choice(others),
                      branches_of(self.spec, sample))

    def guard_violations(self, sample: Mapping[str, Any]) -> list[str]:
        """What in ``sample`` breaks FasterSeg's derivation guards, one line each (empty: none, or guards off).
        A sample that breaks them is still in the space: evolution's mutations may make one."""
        self.validate(sample)
        return violations(self.spec, self.guards, sample, branches_of(self.spec, sample))

    def canonical(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        """Only the labels of the cells on the two branches' paths (and the head's)."""
        used = used_cells(self.spec, sample)
        labels = {f(*cell) for cell in used for f in (op_label, input_label, width_label)} | {HEAD}
        return {k: v for k, v in sample.items() if k in labels}

    def build(self, sample: Mapping[str, Any], num_classes: int) -> FasterSegNetwork:
        self.validate(sample)
        return FasterSegNetwork(self.spec, sample, num_classes)

    def build_supernet(self, num_classes: int, *, partial_channels: int = 1,
                       edge_normalization: bool = False) -> FasterSegSupernet:
        """The supernet (no partial channels: an operation changes the width, and a stride-2 one doubles it, so
        no channels can bypass it; no edge normalisation: no node sums mixed edges)."""
        refuse_partial_channels(self, partial_channels, "its operations change the number of channels (down "
                                "paths double it, the width choice masks it), so no part of an edge's channels "
                                "can bypass them")
        refuse_edge_normalization(self, edge_normalization, "no node of it sums mixed edges (a cell runs one "
                                  "mixed operation on one input, and its path choices already weight the inputs)")
        return FasterSegSupernet(self.spec, num_classes, self.guards, self.options.head_latency_exponent)

    def nni_model_space(self, num_classes: int) -> nn.Module:
        """The space as NNI mutables with the same labels: a
        :class:`~gasnas_plugins.spaces.fasterseg.model_space.FasterSegModelSpace` with this space's options
        (needs nni)."""
        from gasnas.api import options_to_dict
        from gasnas_plugins.nni_support import nas_nn, quiet

        nas_nn()  # the install hint when nni is missing
        with quiet():
            from gasnas_plugins.spaces.fasterseg.model_space import FasterSegModelSpace

            return FasterSegModelSpace(num_classes=num_classes, **options_to_dict(self.options))

    def render(self, sample: Mapping[str, Any], directory: Path) -> list[Path]:
        from gasnas_plugins.spaces.fasterseg.render import draw_paths

        return draw_paths(self.spec, sample, Path(directory))

    def fingerprint(self) -> str:
        import hashlib

        return f"fasterseg-{hashlib.sha1(repr(self.spec).encode()).hexdigest()[:10]}"

    def describe(self, sample: Mapping[str, Any]) -> str:
        used = used_cells(self.spec, sample)
        ops = [sample[op_label(*cell)] for cell in used]
        counts = ", ".join(f"{ops.count(op)}x {op}" for op in self.spec.ops if op in ops)
        widths = sum(sample[width_label(*cell)] for cell in used) / (12 * len(used))
        return (f"{len(used)} cells on branches {head_name(branches_of(self.spec, sample))}, {counts}, mean width "
                f"{widths:.2f}")

    # -- latency description -------------------------------------------------------------------------------------

    def latency_weights(self) -> Mapping[str, float]:
        """FasterSeg's decoupled latency weights (``search/architect.py``): 1/500 for the operations, 497/500 for
        the paths, 2/500 for the widths."""
        return dict(DECOUPLED_WEIGHTS)

    def cost_terms(self, input_shape: tuple[int, ...], sample: Mapping[str, Any] | None = None,
                   num_classes: int = 19) -> list[CostTerm]:
        """Stem, one operation per cell, and the head, as blocks timed at their shapes and widths.

        Without ``sample``: per cell of the grid and input it can read, a term over the cell's operation, its
        input's width and its own width (every combination timed), counted when the cell is in the network: on
        the path of either branch, by inclusion-exclusion over the two (see :func:`_presence`) -- so at a
        one-hot mixing the expectation is the cost of that network. The head is a term over the two branch
        ends' widths. With a head choice, every term of a head's network is given that head. With ``sample``: the
        cells of the branches' paths at their widths.
        """
        n, _, h, w = input_shape
        spec = self.spec
        if sample is not None:
            self.validate(sample)
        hw = [(_down(h, 8 * 2 ** s), _down(w, 8 * 2 ** s)) for s in range(3)]
        made: dict[tuple, Block] = {}

        def op_block(op: str, c_in: int, c_out: int, stride: int, scale: int) -> tuple[Block, ...]:
            key = (op, c_in, c_out, stride, scale)
            if key not in made:
                made[key] = Block(f"fasterseg.{op}(cin={c_in},c={c_out},s={stride})", ((n, c_in, *hw[scale]),),
                                  lambda: make_op(op, c_in, c_out, stride))
            return (made[key],)

        def head_block(pair: tuple[int, int], c_fine: int, c_coarse: int) -> tuple[Block, ...]:
            key = (f"fasterseg.head(cin={c_fine},{c_coarse},c={spec.head_channels},classes={num_classes},"
                   f"out={h}x{w})")
            shapes = ((n, c_fine, *hw[pair[0]]), (n, c_coarse, *hw[pair[1]]))
            return (Block(key, shapes, lambda: _HeadBlock(Head(c_fine, c_coarse, spec.head_channels, num_classes),
                                                          (h, w))),)

        terms = [CostTerm("stem", ((Block(f"fasterseg.stem(c={spec.stem_channels},{spec.channels})",
                                          ((n, 3, h, w),), lambda: Stem(spec.stem_channels, spec.channels)),),))]
        widths = lambda cell: [spec.width(cell[1], t) for t in spec.widths]  # noqa: E731
        if sample is not None:
            for cell in used_cells(spec, sample):
                src = source_of(cell, chosen_input(cell, sample))
                c_in = spec.channels if src[0] < 0 else spec.width(src[1], sample[width_label(*src)])
                c_out = spec.width(cell[1], sample[width_label(*cell)])
                stride = 1 if src[1] == cell[1] else 2
                terms.append(CostTerm(f"layer{cell[0]}", (op_block(sample[op_label(*cell)], c_in, c_out, stride,
                                                                    src[1]),)))
            pair = branches_of(spec, sample)
            ends = [(spec.layers - 1, b) for b in pair]
            c_fine, c_coarse = (spec.width(cell[1], sample[width_label(*cell)]) for cell in ends)
            return terms + [CostTerm("head", (head_block(pair, c_fine, c_coarse),))]
        for index, pair in enumerate(spec.heads):  # with a head choice, each head's network given that choice
            chosen = ((HEAD, index),) if len(spec.heads) > 1 else ()
            ends = [(spec.layers - 1, b) for b in pair]
            for cell in self.grid:
                kinds = inputs_of(cell)
                for kind in kinds:
                    src = source_of(cell, kind)
                    c_ins = [spec.channels] if src[0] < 0 else widths(src)
                    keys = (op_label(*cell),) + (() if src[0] < 0 else (width_label(*src),)) + (width_label(*cell),)
                    candidates = tuple(op_block(op, c_in, c_out, 1 if kind == "keep" else 2, src[1])
                                       for op, c_in, c_out in itertools.product(spec.ops, c_ins, widths(cell)))
                    own = ((input_label(*cell), kinds.index(kind)),) if len(kinds) > 1 else ()
                    for weight, alternatives in _presence(ends, cell):
                        given = tuple(alternative + own + chosen for alternative in alternatives)
                        terms.append(CostTerm(f"layer{cell[0]}", candidates, keys, weight=weight,
                                              given=() if given == ((),) else given))
            candidates = tuple(head_block(pair, a, b) for a, b in itertools.product(*map(widths, ends)))
            terms.append(CostTerm("head", candidates, tuple(width_label(*cell) for cell in ends),
                                  given=(chosen,) if chosen else ()))
        return terms


#: FasterSeg's decoupled latency weights (search/architect.py): operations, paths, widths
DECOUPLED_WEIGHTS = {"op": 1 / 500, "path": 497 / 500, "width": 2 / 500}

Route = tuple[tuple[str, int], ...]


def _routes(end: Cell, cell: Cell) -> list[Route]:
    """The input choices that lead from ``end`` back to ``cell``, one conjunction per route (cells with a single
    input add no condition); none when ``end`` cannot reach ``cell``."""
    if end == cell:
        return [()]
    if end[0] <= cell[0]:
        return []
    kinds = inputs_of(end)
    out = []
    for kind in kinds:
        here = ((input_label(*end), kinds.index(kind)),) if len(kinds) > 1 else ()
        out += [here + rest for rest in _routes(source_of(end, kind), cell)]
    return out


def _presence(ends: list[Cell], cell: Cell) -> list[tuple[float, tuple[Route, ...]]]:
    """When ``cell`` is in the network, as weighted sets of mutually exclusive routes: on the first branch's path
    (+1), on the second's (+1), on both (-1) -- inclusion-exclusion, so a cell both branches share counts once."""
    first, second = (_routes(end, cell) for end in ends)
    both = []
    for a in first:
        for b in second:
            merged = dict(a)
            if all(merged.setdefault(k, v) == v for k, v in b):
                both.append(tuple(sorted(merged.items())))
    return [(weight, tuple(routes)) for weight, routes in ((1.0, first), (1.0, second), (-1.0, both)) if routes]
