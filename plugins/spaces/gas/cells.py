"""Cells: DARTS-style DAGs with two inputs, B intermediate nodes and a projected concatenation as output.

Node ``i`` (numbered from 2; 0 and 1 are the two inputs) sums operations applied to earlier states. In the
supernet every edge ``(i, j)`` mixes all candidate operations; in a derived cell each node keeps two
``(operation, input)`` pairs -- NNI's ``Cell`` sample format: ``op_i_k`` and ``input_i_k``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from gasnas_plugins.spaces.gas.ops import ConvBNReLU, make_op

__all__ = ["Preprocess", "Projection", "MixedOp", "SearchCell", "FixedCell", "edge_key", "op_label", "input_label"]


def edge_key(cell: int, node: int, source: int) -> str:
    return f"cell{cell}/edge_{node}_{source}"


def op_label(cell: int, node: int, slot: int) -> str:
    return f"cell{cell}/op_{node}_{slot}"


def input_label(cell: int, node: int, slot: int) -> str:
    return f"cell{cell}/input_{node}_{slot}"


class Preprocess(nn.Module):
    """Bring a cell input to the cell's width (1x1) and resolution (stride = resolution ratio)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(c_in, c_out, kernel=1, stride=stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Projection(nn.Module):
    """Concatenate the intermediate nodes and project them to the cell's output width."""

    def __init__(self, nodes: int, channels: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(nodes * channels, channels, kernel=1)

    def forward(self, *states: Tensor) -> Tensor:
        return self.conv(torch.cat(states, dim=1))


def _stride(reduction: bool, source: int) -> int:
    return 2 if reduction and source < 2 else 1


class MixedOp(nn.Module):
    """All candidates on one edge; ``forward(x, w)`` = sum of w_o * op_o(x) over candidates with w_o != 0."""

    def __init__(self, ops: Sequence[str], channels: int, stride: int) -> None:
        super().__init__()
        self.names = tuple(ops)
        self.ops = nn.ModuleList(make_op(op, channels, stride) for op in ops)
        self.stride = stride

    def forward(self, x: Tensor, weights: Tensor, active: Sequence[int]) -> Tensor:
        out = None
        for i in active:
            if self.names[i] == "zero":  # contributes nothing: skip its kernels
                continue
            y = weights[i] * self.ops[i](x)
            out = y if out is None else out + y
        if out is None:  # only zero is active (single path through "no connection")
            out = self.ops[self.names.index("zero")](x) if "zero" in self.names else x[:, :, ::self.stride, ::self.stride] * 0
        return out


class _Cell(nn.Module):
    def __init__(self, index: int, c_prev_prev: int, c_prev: int, channels: int, nodes: int, reduction: bool,
                 strides: tuple[int, int]) -> None:
        super().__init__()
        self.index, self.nodes, self.reduction = index, nodes, reduction
        self.pre0 = Preprocess(c_prev_prev, channels, strides[0])
        self.pre1 = Preprocess(c_prev, channels, strides[1])
        self.project = Projection(nodes, channels)


class SearchCell(_Cell):
    """A supernet cell: every edge is a :class:`MixedOp`."""

    def __init__(self, index: int, c_prev_prev: int, c_prev: int, channels: int, nodes: int, reduction: bool,
                 strides: tuple[int, int], ops: Sequence[str]) -> None:
        super().__init__(index, c_prev_prev, c_prev, channels, nodes, reduction, strides)
        self.edges = nn.ModuleDict()
        for i in range(2, nodes + 2):
            for j in range(i):
                self.edges[f"{i}_{j}"] = MixedOp(ops, channels, _stride(reduction, j))

    def forward(self, s0: Tensor, s1: Tensor, mixing: Mapping[str, Tensor],
                active: Mapping[str, Sequence[int]]) -> Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for i in range(2, self.nodes + 2):
            keys = [edge_key(self.index, i, j) for j in range(i)]
            states.append(sum(self.edges[f"{i}_{j}"](states[j], mixing[k], active[k]) for j, k in enumerate(keys)))
        return self.project(*states[2:])


class FixedCell(_Cell):
    """A derived cell: node ``i`` = op_i_0(state[input_i_0]) + op_i_1(state[input_i_1])."""

    def __init__(self, index: int, c_prev_prev: int, c_prev: int, channels: int, nodes: int, reduction: bool,
                 strides: tuple[int, int], genotype: Sequence[Sequence[tuple[str, int]]]) -> None:
        super().__init__(index, c_prev_prev, c_prev, channels, nodes, reduction, strides)
        self.genotype = [list(pairs) for pairs in genotype]
        self.ops = nn.ModuleList(
            nn.ModuleList(make_op(op, channels, _stride(reduction, src)) for op, src in pairs) for pairs in genotype)

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for pairs, ops in zip(self.genotype, self.ops):
            total = None
            for (_, src), op in zip(pairs, ops):
                y = op(states[src])
                total = y if total is None else total + y
            states.append(total)
        return self.project(*states[2:])
