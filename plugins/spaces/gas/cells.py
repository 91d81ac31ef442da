"""Cells: DARTS-style DAGs with two inputs, B intermediate nodes and a projected concatenation as output.

Node ``i`` (numbered from 2; 0 and 1 are the two inputs) sums operations applied to earlier states. In the
supernet every edge ``(i, j)`` mixes all candidate operations (with PC-DARTS' edge normalisation, the node's sum
weights each edge by the node's edge mixing, keyed :func:`node_key`); in a derived cell each node keeps two
``(operation, input)`` pairs -- NNI's ``Cell`` sample format: ``op_i_k`` and ``input_i_k``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas_plugins.spaces.gas.ops import ConvBNReLU, make_op

__all__ = ["Preprocess", "Projection", "channel_shuffle", "MixedOp", "SearchCell", "FixedCell", "edge_key", "node_key",
           "op_label", "input_label"]


def edge_key(cell: int, node: int, source: int) -> str:
    return f"cell{cell}/edge_{node}_{source}"


def node_key(cell: int, node: int) -> str:
    """The edge-normalisation choice of a node: its weights over the node's incoming edges."""
    return f"cell{cell}/node_{node}"


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


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet's shuffle: channels ``(g, c)`` reordered to ``(c, g)``."""
    if groups == 1:
        return x
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class MixedOp(nn.Module):
    """All candidates on one edge; ``forward(x, w, active)`` = sum of w_o * op_o(x) over the ``active``
    candidates (``zero`` skipped: it contributes nothing).

    With ``groups`` K > 1, PC-DARTS' partial channels: only the first ``channels / K`` channels go through the
    candidates (built that narrow), the rest bypass them -- max-pooled 2x2 across a stride, as PC-DARTS, to the
    candidates' output size -- and a channel shuffle with K groups interleaves the two parts for the next edge.
    The gas and dcnas supernets share it."""

    def __init__(self, ops: Sequence[str], channels: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        if groups < 1 or channels % groups:
            raise ValueError(f"partial channels: {channels} channels do not split into {groups} equal groups")
        self.names = tuple(ops)
        self.stride, self.groups = stride, groups
        self.active_channels = channels // groups
        self.ops = nn.ModuleList(make_op(op, self.active_channels, stride) for op in ops)

    def forward(self, x: Tensor, weights: Tensor, active: Sequence[int]) -> Tensor:
        if self.groups == 1:
            return self._mix(x, weights, active)
        out = self._mix(x[:, :self.active_channels], weights, active)
        rest = x[:, self.active_channels:]
        if self.stride > 1:  # ceil_mode: the candidates' size, ceil(h / 2), on odd sizes too
            rest = F.max_pool2d(rest, self.stride, self.stride, ceil_mode=True)
        return channel_shuffle(torch.cat([out, rest], dim=1), self.groups)

    def _mix(self, x: Tensor, weights: Tensor, active: Sequence[int]) -> Tensor:
        out = None
        for i in active:
            if self.names[i] == "zero":  # contributes nothing: skip its kernels
                continue
            y = weights[i] * self.ops[i](x)
            out = y if out is None else out + y
        if out is None:  # only zero is active (single path through "no connection")
            out = torch.zeros_like(x[:, :, ::self.stride, ::self.stride])
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
    """A supernet cell: every edge is a :class:`MixedOp` (over ``1 / groups`` of its channels). With
    ``edge_normalization`` node ``i`` is ``sum_j beta_j * edge_ij(state_j)``, ``beta`` the mixing of
    :func:`node_key` (PC-DARTS); without, the plain sum."""

    def __init__(self, index: int, c_prev_prev: int, c_prev: int, channels: int, nodes: int, reduction: bool,
                 strides: tuple[int, int], ops: Sequence[str], groups: int = 1,
                 edge_normalization: bool = False) -> None:
        super().__init__(index, c_prev_prev, c_prev, channels, nodes, reduction, strides)
        self.edge_normalization = edge_normalization
        self.edges = nn.ModuleDict()
        for i in range(2, nodes + 2):
            for j in range(i):
                self.edges[f"{i}_{j}"] = MixedOp(ops, channels, _stride(reduction, j), groups)

    def forward(self, s0: Tensor, s1: Tensor, mixing: Mapping[str, Tensor],
                active: Mapping[str, Sequence[int]]) -> Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for i in range(2, self.nodes + 2):
            outs = [self.edges[f"{i}_{j}"](states[j], mixing[k], active[k])
                    for j, k in enumerate(edge_key(self.index, i, j) for j in range(i))]
            if self.edge_normalization:
                beta = mixing[node_key(self.index, i)]
                outs = [beta[j] * y for j, y in enumerate(outs)]
            states.append(sum(outs))
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
