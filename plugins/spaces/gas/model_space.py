"""The ``gas`` space as an NNI 3.0 ``ModelSpace``, so NNI's strategies (and NNI users) can search it: what
:meth:`GasSearchSpace.nni_model_space <gasnas_plugins.spaces.gas.space.GasSearchSpace.nni_model_space>` returns
(the space's ``nni`` capability). Imports nni: import it only when nni is wanted.

Each GAS cell is an NNI ``Cell`` labelled ``cell{k}``: two predecessors (the two previous cells' outputs,
brought to the cell's width by its preprocessor), B nodes of two operations each, every node concatenated and
projected back to the cell's width by its postprocessor. NNI's ``Cell`` labels its choices exactly as the
``gas`` space does -- ``cell{k}/op_{i}_{s}`` (an operation name) and ``cell{k}/input_{i}_{s}`` (``[j]``) -- so
a sample of one is a sample of the other, and ``GasModelSpace(...).freeze(sample)`` is the network
``gas``'s ``build(sample)`` makes (same modules, fresh weights). ``zero`` is not a candidate: NNI's one-shot
cells add their own "no edge" to every edge, as GAS's supernet does.

    from gasnas_plugins.spaces.gas.model_space import GasModelSpace
    space = GasModelSpace(num_classes=19, preset="gas-tiny")    # any option of the gas space
"""

from __future__ import annotations

from functools import partial
from typing import Any

from nni.nas.nn.pytorch import Cell, ModelSpace
from torch import Tensor, nn

from gasnas_plugins.spaces.gas.cells import Preprocess, Projection
from gasnas_plugins.spaces.gas.network import CellPlan, Stem, make_head, plan_cells
from gasnas_plugins.spaces.gas.ops import make_op
from gasnas_plugins.spaces.gas.options import GasSpaceOptions, GasSpec, resolve

__all__ = ["CellOutput", "GasModelSpace"]


class _Inputs(nn.Module):
    """A GAS cell's preprocessing as an NNI Cell preprocessor: [s0, s1] -> [pre0(s0), pre1(s1)]."""

    def __init__(self, plan: CellPlan) -> None:
        super().__init__()
        self.pre0 = Preprocess(plan.c_prev_prev, plan.channels, plan.strides[0])
        self.pre1 = Preprocess(plan.c_prev, plan.channels, plan.strides[1])

    def forward(self, inputs: list[Tensor]) -> list[Tensor]:
        return [self.pre0(inputs[0]), self.pre1(inputs[1])]


class CellOutput(nn.Module):
    """A cell's projection as an NNI Cell postprocessor: concatenated nodes -> 1x1 conv-BN-ReLU (the gas and dcnas
    cells end alike)."""

    def __init__(self, nodes: int, channels: int) -> None:
        super().__init__()
        self.project = Projection(nodes, channels)

    def forward(self, this_cell: Tensor, inputs: list[Tensor]) -> Tensor:
        return self.project.conv(this_cell)


def _op(name: str, channels: int, reduction: bool, node: int, op_index: int, input_index: int | None) -> nn.Module:
    """An NNI cell op factory: operations reading a cell input (index < 2, or unknown) of a reduction cell
    have stride 2, as in the gas space."""
    stride = 2 if reduction and (input_index is None or input_index < 2) else 1
    return make_op(name, channels, stride)


class GasModelSpace(ModelSpace):
    """GAS's cell-independent space (stem -> L NNI Cells -> head); keyword options as the ``gas`` space's."""

    def __init__(self, num_classes: int = 19, **options: Any) -> None:
        super().__init__()
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}  # YAML lists
        self.spec: GasSpec = resolve(GasSpaceOptions(**options))
        plans = plan_cells(self.spec)
        ops = [op for op in self.spec.ops if op != "zero"]
        self.stem = Stem(self.spec.stem_channels, self.spec.stem_stride)
        self.cells = nn.ModuleList(
            Cell({op: partial(_op, op, p.channels, p.reduction) for op in ops}, num_nodes=self.spec.nodes,
                 num_ops_per_node=2, num_predecessors=2, merge_op="all", preprocessor=_Inputs(p),
                 postprocessor=CellOutput(self.spec.nodes, p.channels), label=f"cell{p.index}")
            for p in plans)
        self.head = make_head(self.spec, plans[-1].channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell([s0, s1])
        return self.head(s1, x.shape[-2:])
