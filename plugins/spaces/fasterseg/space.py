"""The ``fasterseg`` search space: FasterSeg's multi-resolution space in NNI's sample format.

Labels, per cell ``(l, s)`` of the grid (layer ``l``, scale ``s``: 0 is 1/8, 1 is 1/16, 2 is 1/32; ``l >= s``):
``layer{l}/scale{s}/op`` (an operation name), ``layer{l}/scale{s}/width`` (twelfths of the scale's full width)
and, where the cell can read both, ``layer{l}/scale{s}/input`` (``keep`` or ``down``). A network holds the cells
on the paths of its two branches; :meth:`FasterSegSearchSpace.canonical` drops the labels of the others.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from gasnas.api import Categorical, Mutable
from gasnas.api.space import Block, CostTerm, SearchSpace
from gasnas_plugins.spaces.fasterseg.network import (FasterSegNetwork, FasterSegSupernet, Head, Stem, chosen_input,
                                                     grid, input_label, inputs_of, op_label, source_of, used_cells,
                                                     width_label)
from gasnas_plugins.spaces.fasterseg.ops import make_op
from gasnas_plugins.spaces.fasterseg.options import FasterSegSpaceOptions, FasterSegSpec, resolve

__all__ = ["FasterSegSearchSpace"]


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
        self.grid = grid(self.spec)
        self._choices: dict[str, Mutable] = {}
        for cell in self.grid:
            self._choices[op_label(*cell)] = Categorical(self.spec.ops, label=op_label(*cell))
            if len(inputs_of(cell)) > 1:
                self._choices[input_label(*cell)] = Categorical(inputs_of(cell), label=input_label(*cell))
            self._choices[width_label(*cell)] = Categorical(self.spec.widths, label=width_label(*cell))

    def choices(self) -> Mapping[str, Mutable]:
        return self._choices

    def canonical(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        """Only the labels of the cells on the two branches' paths."""
        used = used_cells(self.spec, sample)
        labels = {f(*cell) for cell in used for f in (op_label, input_label, width_label)}
        return {k: v for k, v in sample.items() if k in labels}

    def build(self, sample: Mapping[str, Any], num_classes: int) -> FasterSegNetwork:
        self.validate(sample)
        return FasterSegNetwork(self.spec, sample, num_classes)

    def build_supernet(self, num_classes: int) -> FasterSegSupernet:
        return FasterSegSupernet(self.spec, num_classes)

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
        return f"{len(used)} cells on 2 branches, {counts}, mean width {widths:.2f}"

    # -- latency description -------------------------------------------------------------------------------------

    def cost_terms(self, input_shape: tuple[int, ...], sample: Mapping[str, Any] | None = None,
                   num_classes: int = 19) -> list[CostTerm]:
        """Stem, one operation per cell, and the head, as blocks timed at their shapes and widths.

        Without ``sample``: for every cell of the grid, every input it can read and every pair (input width,
        output width), a term relaxed over the cell's operations, weighted by the input's and the widths'
        uniform shares; the head at every pair of branch widths likewise. The table thus times every operation
        at every scale and width; the expectation is differentiable in the operations only (ours: a term cannot
        depend on two relaxed choices) and counts every cell of the grid. With ``sample``: the cells of the
        branches' paths at their widths.
        """
        n, _, h, w = input_shape
        spec = self.spec
        if sample is not None:
            self.validate(sample)
        hw = [(_down(h, 8 * 2 ** s), _down(w, 8 * 2 ** s)) for s in range(3)]
        terms = [CostTerm("stem", ((Block(f"fasterseg.stem(c={spec.stem_channels},{spec.channels})",
                                          ((n, 3, h, w),), lambda: Stem(spec.stem_channels, spec.channels)),),))]
        cells = self.grid if sample is None else used_cells(spec, sample)
        for cell in cells:
            group = f"layer{cell[0]}"
            kinds = inputs_of(cell) if sample is None else (chosen_input(cell, sample),)
            for kind in kinds:
                src = source_of(cell, kind)
                c_ins = (spec.channels,) if src[0] < 0 else tuple(spec.width(src[1], t) for t in spec.widths)
                c_outs = tuple(spec.width(cell[1], t) for t in spec.widths)
                if sample is not None:
                    c_ins = (spec.channels,) if src[0] < 0 else (spec.width(src[1], sample[width_label(*src)]),)
                    c_outs = (spec.width(cell[1], sample[width_label(*cell)]),)
                share = 1.0 / (len(kinds) * len(c_ins) * len(c_outs))
                for c_in, c_out in itertools.product(c_ins, c_outs):
                    stride = 1 if kind == "keep" else 2
                    shape = (n, c_in, *hw[src[1]])
                    blocks = {op: (Block(f"fasterseg.{op}(cin={c_in},c={c_out},s={stride})", (shape,),
                                         lambda o=op, a=c_in, b=c_out, s=stride: make_op(o, a, b, s)),)
                              for op in spec.ops}
                    if sample is None:
                        terms.append(CostTerm(group, tuple(blocks[op] for op in spec.ops), op_label(*cell),
                                              weight=share))
                    else:
                        terms.append(CostTerm(group, (blocks[sample[op_label(*cell)]],)))
        ends = [(spec.layers - 1, b) for b in spec.branches]
        if sample is None:
            pairs = list(itertools.product(*[[spec.width(b, t) for t in spec.widths] for b in spec.branches]))
        else:
            pairs = [tuple(spec.width(cell[1], sample[width_label(*cell)]) for cell in ends)]
        for c_fine, c_coarse in pairs:
            key = (f"fasterseg.head(cin={c_fine},{c_coarse},c={spec.head_channels},classes={num_classes},"
                   f"out={h}x{w})")
            shapes = ((n, c_fine, *hw[spec.branches[0]]), (n, c_coarse, *hw[spec.branches[1]]))
            factory = (lambda a=c_fine, b=c_coarse:
                       _HeadBlock(Head(a, b, spec.head_channels, num_classes), (h, w)))
            terms.append(CostTerm("head", ((Block(key, shapes, factory),),), weight=1.0 / len(pairs)))
        return terms
