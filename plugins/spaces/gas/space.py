"""The ``gas`` search space: GAS's cell-independent space in NNI's sample format.

Labels follow NNI's ``Cell``: for cell ``k`` and node ``i`` (from 2), slot ``s`` in {0, 1}:
``cell{k}/op_{i}_{s}`` (an operation name) and ``cell{k}/input_{i}_{s}`` (``[j]``, the state it reads).
Every cell has its own labels: nothing is shared.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from gasnas.api import Categorical, CategoricalMultiple, IncompatibleComponentsError, Mutable
from gasnas.api.space import Block, CostTerm, SearchSpace
from gasnas_plugins.spaces.gas.cells import Preprocess, Projection, edge_key, input_label, op_label
from gasnas_plugins.spaces.gas.network import GasNetwork, GasSupernet, Stem, genotype_of, log10_size, make_head, plan_cells
from gasnas_plugins.spaces.gas.ops import is_free, make_op
from gasnas_plugins.spaces.gas.options import GasSpaceOptions, GasSpec, resolve

__all__ = ["GasSearchSpace"]


def _down(size: int, stride: int) -> int:
    return -(-size // stride)


class _HeadBlock(nn.Module):
    def __init__(self, head: nn.Module, size: tuple[int, int]) -> None:
        super().__init__()
        self.head, self.size = head, size

    def forward(self, x):
        return self.head(x, self.size)


class GasSearchSpace(SearchSpace):
    """Stem -> L independent DARTS-style cells (B nodes, 2 inputs, projected concatenation) -> head."""

    def __init__(self, options: GasSpaceOptions | None = None) -> None:
        self.options = options or GasSpaceOptions()
        self.spec: GasSpec = resolve(self.options)
        self.plans = plan_cells(self.spec)
        self.ops = tuple(op for op in self.spec.ops if op != "zero")
        self._choices: dict[str, Mutable] = {}
        for k in range(self.spec.cells):
            for i in range(2, self.spec.nodes + 2):
                for s in (0, 1):
                    self._choices[op_label(k, i, s)] = Categorical(self.ops, label=op_label(k, i, s))
                    self._choices[input_label(k, i, s)] = CategoricalMultiple(
                        list(range(i)), n_chosen=1, label=input_label(k, i, s))

    def choices(self) -> Mapping[str, Mutable]:
        return self._choices

    def random_sample(self, rng: random.Random) -> dict[str, Any]:
        """Uniform operations; the two inputs of a node are distinct (as a derivation keeps them)."""
        sample: dict[str, Any] = {}
        for k in range(self.spec.cells):
            for i in range(2, self.spec.nodes + 2):
                inputs = sorted(rng.sample(range(i), 2))
                for s in (0, 1):
                    sample[op_label(k, i, s)] = rng.choice(self.ops)
                    sample[input_label(k, i, s)] = [inputs[s]]
        return sample

    def log10_size(self) -> float:
        return log10_size(self.spec)

    def build(self, sample: Mapping[str, Any], num_classes: int) -> GasNetwork:
        self.validate(sample)
        return GasNetwork(self.spec, genotype_of(self.spec, sample), num_classes)

    def build_supernet(self, num_classes: int, *, partial_channels: int = 1,
                       edge_normalization: bool = False) -> GasSupernet:
        """The supernet; with ``partial_channels`` K > 1 (PC-DARTS) every cell's width must be divisible by K;
        ``edge_normalization`` (PC-DARTS) adds a choice per node weighting its incoming edges."""
        if partial_channels < 1:
            raise ValueError(f"partial_channels must be >= 1, got {partial_channels}")
        for k in range(self.spec.cells):
            width = self.spec.cell_channels(k)
            if width % partial_channels:
                raise IncompatibleComponentsError(
                    f"strategy.params.partial_channels {partial_channels} must divide every cell's width in search "
                    f"space gas, but cell {k} has {width} channels (space.params.channels {self.spec.channels}, "
                    "doubled at each reduction); choose a K that divides channels, or change channels")
        return GasSupernet(self.spec, num_classes, partial_channels, edge_normalization)

    def nni_model_space(self, num_classes: int) -> nn.Module:
        """The space as NNI ``Cell`` s with the same labels: a
        :class:`~gasnas_plugins.spaces.gas.model_space.GasModelSpace` with this space's options (needs nni)."""
        from gasnas.api import options_to_dict
        from gasnas_plugins.nni_support import nas_nn, quiet

        nas_nn()  # the install hint when nni is missing
        with quiet():
            from gasnas_plugins.spaces.gas.model_space import GasModelSpace

            return GasModelSpace(num_classes=num_classes, **options_to_dict(self.options))

    def fingerprint(self) -> str:
        import hashlib

        return f"gas-{hashlib.sha1(repr(self.spec).encode()).hexdigest()[:10]}"

    def describe(self, sample: Mapping[str, Any]) -> str:
        ops = [v for k, v in sample.items() if "/op_" in k]
        counts = {op: ops.count(op) for op in self.ops if op in ops}
        return f"{self.spec.cells} cells, " + ", ".join(f"{n}x {op}" for op, n in counts.items())

    # -- latency description -------------------------------------------------------------------------------------

    def cost_terms(self, input_shape: tuple[int, ...], sample: Mapping[str, Any] | None = None,
                   num_classes: int = 19) -> list[CostTerm]:
        """Stem, per-cell preprocessing / operations / projection, and head, as blocks timed at their shapes.

        Without ``sample``: one relaxed term per edge (all candidates), weighted by 2 / (inputs of its node):
        the share of a node's edges a derivation keeps. With ``sample``: the chosen operations only.
        """
        n, _, h, w = input_shape
        spec = self.spec
        if sample is not None:
            self.validate(sample)
        zero = spec.ops.index("zero") if "zero" in spec.ops else None
        stem_hw = (h, w)
        for s in Stem.STRIDES[spec.stem_stride]:
            stem_hw = (_down(stem_hw[0], s), _down(stem_hw[1], s))
        terms = [CostTerm("stem", ((Block(f"gas.stem(c={list(spec.stem_channels)},s={spec.stem_stride})",
                                          ((n, 3, h, w),), lambda: Stem(spec.stem_channels, spec.stem_stride)),),))]
        res = [stem_hw]  # output resolution of stem, cell 0, ...
        for p in self.plans:
            prev, prev_prev = res[-1], res[max(len(res) - 2, 0)]
            c = p.channels
            out_hw = (_down(prev[0], 2), _down(prev[1], 2)) if p.reduction else prev
            group = f"cell{p.index}"
            fixed = [
                Block(f"gas.pre(cin={p.c_prev_prev},c={c},s={p.strides[0]})", ((n, p.c_prev_prev, *prev_prev),),
                      lambda a=p.c_prev_prev, b=c, s=p.strides[0]: Preprocess(a, b, s)),
                Block(f"gas.pre(cin={p.c_prev},c={c},s=1)", ((n, p.c_prev, *prev),),
                      lambda a=p.c_prev, b=c: Preprocess(a, b, 1)),
                Block(f"gas.project(nodes={spec.nodes},c={c})", tuple((n, c, *out_hw) for _ in range(spec.nodes)),
                      lambda b=c: Projection(spec.nodes, b)),
            ]
            terms.append(CostTerm(group, (tuple(fixed),)))
            for i in range(2, spec.nodes + 2):
                for j in range(i):
                    stride = 2 if p.reduction and j < 2 else 1
                    in_hw = prev if j < 2 else out_hw
                    blocks = {op: self._op_blocks(op, c, stride, (n, c, *in_hw)) for op in spec.ops}
                    if sample is None:
                        terms.append(CostTerm(group, tuple(blocks[op] for op in spec.ops), edge_key(p.index, i, j),
                                              weight=2.0 / i, zero=zero))
                        continue
                    for s in (0, 1):
                        if sample[input_label(p.index, i, s)] == [j]:
                            terms.append(CostTerm(group, (blocks[sample[op_label(p.index, i, s)]],)))
            res.append(out_hw)
        last = self.plans[-1].channels
        head_key = (f"gas.head({spec.head},cin={last},c={spec.head_channels},rates={list(spec.aspp_rates)},"
                    f"classes={num_classes},out={h}x{w})")
        terms.append(CostTerm("head", ((Block(head_key, ((n, last, *res[-1]),),
                                              lambda: _HeadBlock(make_head(spec, last, num_classes), (h, w))),),)))
        return terms

    @staticmethod
    def _op_blocks(op: str, channels: int, stride: int, shape: tuple[int, ...]) -> tuple[Block, ...]:
        if is_free(op, stride):
            return ()
        return (Block(f"gas.{op}(c={channels},s={stride})", (shape,), lambda: make_op(op, channels, stride)),)

    def render(self, sample: Mapping[str, Any], directory: Path) -> list[Path]:
        from gasnas_plugins.spaces.gas.render import draw_cells

        return draw_cells(self.spec, sample, Path(directory))
