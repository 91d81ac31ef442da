"""The ``fasterseg`` space as an NNI 3.0 ``ModelSpace``, so NNI's strategies (and NNI users) can search it: what
:meth:`FasterSegSearchSpace.nni_model_space
<gasnas_plugins.spaces.fasterseg.space.FasterSegSearchSpace.nni_model_space>` returns (the space's ``nni``
capability). Imports nni: import it only when nni is wanted.

Every cell ``(l, s)`` of the grid has the labels of the ``fasterseg`` space, scoped as ``layer{l}/scale{s}/...``:

- ``op``: an NNI ``LayerChoice`` over the operations;
- ``input`` (where the cell can read both): a ``LayerChoice`` between reading the same scale (``keep``) and
  the finer one through stride-2 operations (``down``), each holding its own ``op`` choice under the same label
  (one decision, as the gasnas supernet shares a cell's operation between its inputs);
- ``width``: an NNI ``Categorical`` in twelfths; the operations' convolutions are NNI ``MutableConv2d`` /
  ``MutableBatchNorm2d`` whose output channels follow it and whose input channels follow the width of the cell
  they read, so NNI's one-shot strategies relax the widths as mixed operations.

With ``head_choice``, ``head`` is a ``LayerChoice`` between the two heads. ``freeze(sample)`` keeps only the cells
on the sample's two branch paths, so it is the network ``fasterseg``'s ``build(sample)`` makes (same modules, same
parameter count, fresh weights). The derivation guards (``guards.py``) are gasnas's: NNI's strategies export
their own argmax.

    from gasnas_plugins.spaces.fasterseg.model_space import FasterSegModelSpace
    space = FasterSegModelSpace(num_classes=19, preset="fasterseg-tiny")    # any option of the fasterseg space
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nni.mutable import Categorical, label_scope
from nni.mutable.symbol import SymbolicExpression
from nni.nas.nn.pytorch import LayerChoice, ModelSpace, MutableBatchNorm2d, MutableConv2d
from torch import Tensor, nn

from gasnas_plugins.spaces.fasterseg.network import HEAD, Head, Stem, grid, inputs_of, source_of, used_cells
from gasnas_plugins.spaces.fasterseg.ops import make_op
from gasnas_plugins.spaces.fasterseg.options import FasterSegSpaceOptions, FasterSegSpec, resolve

__all__ = ["FasterSegModelSpace"]

Cell = tuple[int, int]
Channels = Any  # an int or an NNI expression of a width choice


class _ConvBNReLU(nn.Sequential):
    """:class:`~gasnas_plugins.spaces.fasterseg.ops.ConvBNReLU` with channels that may follow width choices."""

    def __init__(self, c_in: Channels, c_out: Channels, kernel: int = 3, stride: int = 1, relu: bool = True) -> None:
        layers: list[nn.Module] = [MutableConv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                                   MutableBatchNorm2d(c_out)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class _Head(Head):
    """The fusing head, its two 1x1 inputs following the branch ends' widths."""

    def __init__(self, c_fine: Channels, c_coarse: Channels, channels: int, num_classes: int) -> None:
        super().__init__(1, 1, channels, num_classes)
        self.fine = _ConvBNReLU(c_fine, channels, 1)
        self.coarse = _ConvBNReLU(c_coarse, channels, 1)


class _Read(nn.Module):
    """A cell's operation (or operation choice) applied to the state it reads."""

    def __init__(self, source: Cell, op: nn.Module) -> None:
        super().__init__()
        self.source, self.op = source, op

    def forward(self, states: Mapping[Cell, Tensor]) -> Tensor:
        return self.op(states[self.source])


class _Fuse(nn.Module):
    """The head over the ends of two branches."""

    def __init__(self, ends: tuple[Cell, Cell], head: nn.Module) -> None:
        super().__init__()
        self.ends, self.head = ends, head

    def forward(self, states: Mapping[Cell, Tensor], size: Sequence[int]) -> Tensor:
        return self.head(states[self.ends[0]], states[self.ends[1]], size)


class FasterSegModelSpace(ModelSpace):
    """FasterSeg's space (stem -> grid of cells -> head) as NNI mutables; keyword options as the ``fasterseg``
    space's."""

    def __init__(self, num_classes: int = 19, **options: Any) -> None:
        super().__init__()
        options = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
                   for k, v in options.items()}  # YAML lists
        self.spec: FasterSegSpec = resolve(FasterSegSpaceOptions(**options))
        spec = self.spec
        self.order = grid(spec)
        self.stem = Stem(spec.stem_channels, spec.channels)
        channels: dict[Cell, Channels] = {(-1, 0): spec.channels}
        cells = {}
        for cell in self.order:
            layer, scale = cell
            with label_scope(f"layer{layer}"), label_scope(f"scale{scale}"):
                width = Categorical(list(spec.widths), label="width")
                channels[cell] = SymbolicExpression.switch_case(
                    width, {t: spec.width(scale, t) for t in spec.widths})
                reads = {kind: _Read(source_of(cell, kind), self._ops(channels, cell, kind))
                         for kind in inputs_of(cell)}
                cells[f"{layer}_{scale}"] = (LayerChoice(reads, label="input") if len(reads) > 1
                                             else next(iter(reads.values())))
        self.cells = nn.ModuleDict(cells)
        fuses = {name: _Fuse(((spec.layers - 1, a), (spec.layers - 1, b)),
                             _Head(channels[(spec.layers - 1, a)], channels[(spec.layers - 1, b)],
                                   spec.head_channels, num_classes))
                 for name, (a, b) in spec.head_names().items()}
        self.head = LayerChoice(fuses, label=HEAD) if len(fuses) > 1 else next(iter(fuses.values()))

    def _ops(self, channels: Mapping[Cell, Channels], cell: Cell, kind: str) -> nn.Module:
        """The operation choice of ``cell`` reading its ``kind`` input (label ``op`` in the cell's scope)."""
        source = source_of(cell, kind)
        stride = 1 if kind == "keep" else 2
        return LayerChoice({op: make_op(op, channels[source], channels[cell], stride, block=_ConvBNReLU)
                            for op in self.spec.ops}, label="op")

    def freeze(self, sample: Mapping[str, Any]) -> nn.Module:
        """The network of ``sample``: NNI's freeze, then only the cells on the two branch paths."""
        frozen = super().freeze(sample)
        frozen.order = used_cells(frozen.spec, sample)
        kept = {f"{layer}_{scale}" for layer, scale in frozen.order}
        for name in list(frozen.cells):
            if name not in kept:
                del frozen.cells[name]
        return frozen

    def forward(self, x: Tensor) -> Tensor:
        states = {(-1, 0): self.stem(x)}
        for layer, scale in self.order:
            states[(layer, scale)] = self.cells[f"{layer}_{scale}"](states)
        return self.head(states, x.shape[-2:])
