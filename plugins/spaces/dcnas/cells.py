"""DCNAS cells: a fusion of incoming paths, then a small DAG of GAS operations, then a projection.

Cell ``(l, s)`` (layer ``l``, scale ``s``: 0 is 1/4 of the input, 3 is 1/32) reads the stem and every cell of the
layers before it -- the densely connected space. Each incoming path is *resampled* to the cell's scale and width
(:class:`Resample`) and the *fusion* averages them, weighted: in the supernet by the path weights, in a derived
cell over the ``inputs`` paths it keeps. State 0 of the cell is the fused input; node ``i`` (1 ... B) sums mixed
operations on states ``0 ... i - 1`` in the supernet and keeps one ``(operation, input)`` pair when derived (NNI's
``Cell`` with one predecessor and one operation per node: labels ``op_{i}_0`` and ``input_{i}_0``); the nodes are
concatenated and projected back to the cell's width. With PC-DARTS' edge normalisation a supernet node of two or
more incoming edges weights them by its edge mixing (key :func:`node_key`) in its sum. The operations are GAS's
(``gasnas_plugins.spaces.gas.ops``), all at stride 1: the resampling moves between scales.

Channel sampling (PC-DARTS) is a property of a supernet edge: only the first ``C / K`` channels go through the
mixed operation, the rest bypass it, and a channel shuffle with ``K`` groups mixes the two halves for the next edge.
The edge is GAS's :class:`~gasnas_plugins.spaces.gas.cells.MixedOp` at stride 1, which does exactly this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from gasnas_plugins.spaces.gas.cells import MixedOp, Projection, channel_shuffle
from gasnas_plugins.spaces.gas.ops import ConvBNReLU, make_op

__all__ = ["Cell", "STEM", "cell_label", "inputs_label", "op_label", "input_label", "edge_key", "node_key",
           "sources_of", "Resample", "Fusion", "MixedOp", "Projection", "SearchCell", "FixedCell", "channel_shuffle"]

Cell = tuple[int, int]  # (layer, scale); the stem is (-1, 0)
STEM: Cell = (-1, 0)


def cell_label(layer: int, scale: int) -> str:
    return f"layer{layer}/scale{scale}"


def inputs_label(layer: int, scale: int) -> str:
    return f"layer{layer}/scale{scale}/inputs"


def op_label(layer: int, scale: int, node: int) -> str:
    return f"layer{layer}/scale{scale}/op_{node}_0"


def input_label(layer: int, scale: int, node: int) -> str:
    return f"layer{layer}/scale{scale}/input_{node}_0"


def edge_key(layer: int, scale: int, node: int, source: int) -> str:
    return f"layer{layer}/scale{scale}/edge_{node}_{source}"


def node_key(layer: int, scale: int, node: int) -> str:
    """The edge-normalisation choice of a node: its weights over the node's incoming edges."""
    return f"layer{layer}/scale{scale}/node_{node}"


def sources_of(cell: Cell, scales: int) -> list[Cell]:
    """The states cell ``(l, s)`` may read, in network order: the stem, then every cell of layers ``0 ... l - 1``."""
    return [STEM] + [(l, s) for l in range(cell[0]) for s in range(scales)]


class Resample(nn.Module):
    """One incoming path: a 1x1 conv-BN-ReLU to the target width, at the coarser of the two resolutions -- the
    source is average-pooled down before it (``shift`` > 0 scales coarser), or bilinearly upsampled after it
    (``shift`` < 0) (ours)."""

    def __init__(self, c_in: int, c_out: int, shift: int) -> None:
        super().__init__()
        self.shift = shift
        self.conv = ConvBNReLU(c_in, c_out, kernel=1)

    def forward(self, x: Tensor, size: Sequence[int]) -> Tensor:
        if self.shift < 0:
            return F.interpolate(self.conv(x), size=tuple(size), mode="bilinear", align_corners=False)
        if self.shift > 0:  # ceil_mode: the sizes of the stride-2 chain, -(-h // 2 ** shift)
            x = F.avg_pool2d(x, 2 ** self.shift, ceil_mode=True)
        return self.conv(x)


class Fusion(nn.Module):
    """Every incoming path of a cell resampled to its scale and width; ``forward`` averages them weighted."""

    def __init__(self, sources: Sequence[tuple[int, int]], channels: int, scale: int) -> None:
        """``sources``: (width, scale) of each path's source."""
        super().__init__()
        self.paths = nn.ModuleList(Resample(c, channels, scale - s) for c, s in sources)

    def forward(self, states: Sequence[Tensor], size: Sequence[int], weights: Sequence[Tensor | float],
                active: Sequence[int]) -> Tensor:
        """sum_i w_i R_i(x_i) / sum_i w_i over the ``active`` paths (a derived cell: weights 1 on those it keeps)."""
        total, norm = None, 0.0
        for i in active:
            y = weights[i] * self.paths[i](states[i], size)
            total = y if total is None else total + y
            norm = norm + weights[i]
        return total / norm


class SearchCell(nn.Module):
    """A supernet cell: a fusion over every source and a :class:`MixedOp` on every edge of the DAG. With
    ``edge_normalization`` node ``i >= 2`` is ``sum_j beta_j * edge_ij(state_j)``, ``beta`` the mixing of
    :func:`node_key` (PC-DARTS; node 1 has one edge, weight 1); without, the plain sum."""

    def __init__(self, cell: Cell, sources: Sequence[tuple[int, int]], channels: int, nodes: int,
                 ops: Sequence[str], groups: int = 1, edge_normalization: bool = False) -> None:
        super().__init__()
        self.layer, self.scale = cell
        self.nodes = nodes
        self.edge_normalization = edge_normalization
        self.fusion = Fusion(sources, channels, self.scale)
        self.edges = nn.ModuleDict({f"{i}_{j}": MixedOp(ops, channels, 1, groups)
                                    for i in range(1, nodes + 1) for j in range(i)})
        self.project = Projection(nodes, channels)

    def forward(self, states: Sequence[Tensor], size: Sequence[int], path_weights: Sequence[Tensor | float],
                paths: Sequence[int], mixing: Mapping[str, Tensor], active: Mapping[str, Sequence[int]]) -> Tensor:
        nodes = [self.fusion(states, size, path_weights, paths)]
        for i in range(1, self.nodes + 1):
            keys = [edge_key(self.layer, self.scale, i, j) for j in range(i)]
            outs = [self.edges[f"{i}_{j}"](nodes[j], mixing[k], active[k]) for j, k in enumerate(keys)]
            if self.edge_normalization and i > 1:
                beta = mixing[node_key(self.layer, self.scale, i)]
                outs = [beta[j] * y for j, y in enumerate(outs)]
            nodes.append(sum(outs))
        return self.project(*nodes[1:])


class FixedCell(nn.Module):
    """A derived cell: the kept paths averaged, node ``i`` = op_i(state[input_i]), projected."""

    def __init__(self, sources: Sequence[tuple[int, int]], channels: int, scale: int,
                 genotype: Sequence[tuple[str, int]]) -> None:
        """``sources``: (width, scale) of the kept paths' sources; ``genotype``: (operation, input) per node."""
        super().__init__()
        self.fusion = Fusion(sources, channels, scale)
        self.genotype = list(genotype)
        self.ops = nn.ModuleList(make_op(op, channels, 1) for op, _ in genotype)
        self.project = Projection(len(genotype), channels)

    def forward(self, states: Sequence[Tensor], size: Sequence[int]) -> Tensor:
        keep = range(len(states))
        nodes = [self.fusion(states, size, [1.0] * len(states), keep)]
        for (_, src), op in zip(self.genotype, self.ops):
            nodes.append(op(nodes[src]))
        return self.project(*nodes[1:])
