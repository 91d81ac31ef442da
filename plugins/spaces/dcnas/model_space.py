"""The ``dcnas`` space as an NNI 3.0 ``ModelSpace``: what :meth:`DcnasSearchSpace.nni_model_space
<gasnas_plugins.spaces.dcnas.space.DcnasSearchSpace.nni_model_space>` returns (the space's ``nni`` capability).
Imports nni: import it only when nni is wanted.

Each cell ``(l, s)`` is an NNI ``InputChoice`` over its resampled paths (``n_chosen = inputs``, reduction
``mean``: the fusion of a derived cell) labelled ``layer{l}/scale{s}/inputs`` where the cell has more paths than
it keeps, then an NNI ``Cell`` labelled ``layer{l}/scale{s}`` with one predecessor and one operation per node --
``layer{l}/scale{s}/op_{i}_0`` and ``layer{l}/scale{s}/input_{i}_0``, as the ``dcnas`` space labels them -- so a
sample of one is a sample of the other. ``freeze(sample)`` computes the network ``dcnas``'s ``build(sample)`` makes
(the frozen model also keeps the cells the head does not reach, and resamples every path before choosing).

    from gasnas_plugins.spaces.dcnas.model_space import DcnasModelSpace
    space = DcnasModelSpace(num_classes=19, preset="dcnas-tiny")    # any option of the dcnas space
"""

from __future__ import annotations

from typing import Any

from nni.mutable import label_scope
from nni.nas.nn.pytorch import Cell, InputChoice, ModelSpace
from torch import Tensor, nn

from gasnas_plugins.spaces.dcnas.cells import STEM, Resample, sources_of
from gasnas_plugins.spaces.dcnas.network import Head, Stem, grid, scale_sizes
from gasnas_plugins.spaces.dcnas.options import DcnasSpaceOptions, DcnasSpec, resolve
from gasnas_plugins.spaces.gas.model_space import CellOutput
from gasnas_plugins.spaces.gas.ops import make_op

__all__ = ["DcnasModelSpace"]


class _Paths(nn.Module):
    """A cell's paths resampled to its scale and width, then chosen (or all of them) and averaged."""

    def __init__(self, spec: DcnasSpec, cell: tuple[int, int]) -> None:
        super().__init__()
        sources = sources_of(cell, spec.scales)
        self.paths = nn.ModuleList(
            Resample(spec.stem_channels[-1] if src == STEM else spec.width(src[1]), spec.width(cell[1]),
                     cell[1] - (0 if src == STEM else src[1])) for src in sources)
        self.choice = None
        if len(sources) > spec.inputs:
            with label_scope(f"layer{cell[0]}"), label_scope(f"scale{cell[1]}"):
                self.choice = InputChoice(len(sources), spec.inputs, reduction="mean", label="inputs")

    def forward(self, states: list[Tensor], size: tuple[int, int]) -> Tensor:
        resampled = [path(x, size) for path, x in zip(self.paths, states)]
        return self.choice(resampled) if self.choice is not None else sum(resampled) / len(resampled)


class DcnasModelSpace(ModelSpace):
    """DCNAS's densely connected space (stem -> paths + NNI Cells -> head); keyword options as the ``dcnas``
    space's (the sampling options are accepted and ignored: NNI's strategies relax the space their own way)."""

    def __init__(self, num_classes: int = 19, **options: Any) -> None:
        super().__init__()
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}  # YAML lists
        self.spec: DcnasSpec = resolve(DcnasSpaceOptions(**options))
        spec = self.spec
        ops = [op for op in spec.ops if op != "zero"]
        self.grid = grid(spec)
        self.stem = Stem(spec.stem_channels)
        self.paths = nn.ModuleDict()
        self.cells = nn.ModuleDict()
        for l, s in self.grid:
            c = spec.width(s)
            self.paths[f"{l}_{s}"] = _Paths(spec, (l, s))
            with label_scope(f"layer{l}"):
                self.cells[f"{l}_{s}"] = Cell({op: (lambda i, k, j, op=op, c=c: make_op(op, c, 1)) for op in ops},
                                              num_nodes=spec.nodes, num_ops_per_node=1, num_predecessors=1,
                                              merge_op="all", postprocessor=CellOutput(spec.nodes, c),
                                              label=f"scale{s}")
        self.head = Head([spec.width(s) for s in range(spec.scales)], spec.head_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        states = {STEM: self.stem(x)}
        sizes = scale_sizes(states[STEM], self.spec.scales)
        for l, s in self.grid:
            fused = self.paths[f"{l}_{s}"]([states[src] for src in sources_of((l, s), self.spec.scales)], sizes[s])
            states[(l, s)] = self.cells[f"{l}_{s}"]([fused])
        return self.head([states[(self.spec.layers - 1, s)] for s in range(self.spec.scales)], x.shape[-2:])
