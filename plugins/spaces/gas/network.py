"""GAS networks: stem -> a chain of independent cells -> head -> upsampling to the input size.

:class:`GasNetwork` is a derived (stand-alone) network; :class:`GasSupernet` holds every candidate on every edge
and is what a differentiable or one-shot strategy trains.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api import IncompatibleComponentsError
from gasnas.api.space import Factor, RelaxedChoice, Supernet, kbest, log_scores
from gasnas_plugins.spaces.gas.cells import FixedCell, SearchCell, edge_key, input_label, node_key, op_label
from gasnas_plugins.spaces.gas.ops import ConvBNReLU, SepConv
from gasnas_plugins.spaces.gas.options import GasSpec

__all__ = ["Stem", "ASPPHead", "SimpleHead", "GasNetwork", "GasSupernet", "CellPlan", "plan_cells", "Genotype",
           "selection_mixing"]

#: per cell, per node: two (operation, input index) pairs
Genotype = list[list[list[tuple[str, int]]]]


class Stem(nn.Sequential):
    """Three 3x3 conv-BN-ReLU layers reaching 1/``stride`` of the input."""

    STRIDES = {2: (2, 1, 1), 4: (2, 1, 2), 8: (2, 2, 2)}

    def __init__(self, widths: Sequence[int], stride: int) -> None:
        c_in = 3
        layers = []
        for c_out, s in zip(widths, self.STRIDES[stride]):
            layers.append(ConvBNReLU(c_in, c_out, 3, s))
            c_in = c_out
        super().__init__(*layers)


class ASPPHead(nn.Module):
    """A light ASPP: 1x1, dilated separable 3x3 per rate, image pooling -> 1x1 fuse -> classifier -> resize."""

    def __init__(self, c_in: int, channels: int, rates: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList([ConvBNReLU(c_in, channels, 1)])
        for rate in rates:
            self.branches.append(nn.Sequential(
                nn.Conv2d(c_in, c_in, 3, 1, rate, rate, groups=c_in, bias=False), ConvBNReLU(c_in, channels, 1)))
        self.pool = ConvBNReLU(c_in, channels, 1)
        self.fuse = ConvBNReLU(channels * (len(rates) + 2), channels, 1)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: Tensor, size: Sequence[int]) -> Tensor:
        pooled = self.pool(F.adaptive_avg_pool2d(x, 1)).expand(-1, -1, x.shape[2], x.shape[3])
        y = self.fuse(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))
        return F.interpolate(self.classifier(y), size=size, mode="bilinear", align_corners=False)


class SimpleHead(nn.Module):
    """3x3 conv-BN-ReLU -> classifier -> resize."""

    def __init__(self, c_in: int, channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(c_in, channels, 3)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: Tensor, size: Sequence[int]) -> Tensor:
        return F.interpolate(self.classifier(self.conv(x)), size=size, mode="bilinear", align_corners=False)


def make_head(spec: GasSpec, c_in: int, num_classes: int) -> nn.Module:
    if spec.head == "aspp":
        return ASPPHead(c_in, spec.head_channels, spec.aspp_rates, num_classes)
    return SimpleHead(c_in, spec.head_channels, num_classes)


@dataclass(frozen=True)
class CellPlan:
    """Where a cell sits: its input widths, width, and the resolution divisors of its inputs and output."""

    index: int
    c_prev_prev: int
    c_prev: int
    channels: int
    reduction: bool
    strides: tuple[int, int]  # preprocess strides of input 0 and input 1
    in_divisor: int  # resolution divisor (w.r.t. the stem output) of input 1
    out_divisor: int


def plan_cells(spec: GasSpec) -> list[CellPlan]:
    """Widths and resolutions of every cell, as the stem and reductions dictate."""
    stem_c = spec.stem_channels[-1]
    channels = [stem_c]  # outputs: stem, cell 0, cell 1, ...
    divisors = [1]
    plans = []
    for k in range(spec.cells):
        c = spec.cell_channels(k)
        red = spec.is_reduction(k)
        prev, prev_prev = len(channels) - 1, max(len(channels) - 2, 0)
        plans.append(CellPlan(k, channels[prev_prev], channels[prev], c, red,
                              (divisors[prev] // divisors[prev_prev], 1), divisors[prev],
                              divisors[prev] * (2 if red else 1)))
        channels.append(c)
        divisors.append(plans[-1].out_divisor)
    return plans


class _Backbone(nn.Module):
    def __init__(self, spec: GasSpec, num_classes: int) -> None:
        super().__init__()
        self.spec = spec
        self.plans = plan_cells(spec)
        self.stem = Stem(spec.stem_channels, spec.stem_stride)
        self.head = make_head(spec, self.plans[-1].channels, num_classes)


class GasNetwork(_Backbone):
    """A derived GAS network (the stand-alone network of one architecture)."""

    def __init__(self, spec: GasSpec, genotype: Genotype, num_classes: int) -> None:
        super().__init__(spec, num_classes)
        self.cells = nn.ModuleList(
            FixedCell(p.index, p.c_prev_prev, p.c_prev, p.channels, spec.nodes, p.reduction, p.strides, genotype[k])
            for k, p in enumerate(self.plans))

    def forward(self, x: Tensor) -> Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.head(s1, x.shape[-2:])


class GasSupernet(_Backbone, Supernet):
    """Every candidate on every edge; each cell has its own architecture parameters (no sharing). With
    ``partial_channels`` K > 1 every edge mixes its candidates over ``1 / K`` of its channels (PC-DARTS, see
    :class:`~gasnas_plugins.spaces.gas.cells.MixedOp`): every cell's width must be divisible by K. With
    ``edge_normalization`` (PC-DARTS) every node also has a choice of granularity ``edge`` over its incoming
    edges (key :func:`~gasnas_plugins.spaces.gas.cells.node_key`, candidates the sources' indices, after the
    node's edges): its mixing weights the edges in the node's sum, and its log-probabilities add to the scores
    of the edges a derivation keeps."""

    def __init__(self, spec: GasSpec, num_classes: int, partial_channels: int = 1,
                 edge_normalization: bool = False) -> None:
        super().__init__(spec, num_classes)
        self.partial_channels = partial_channels
        self.edge_normalization = edge_normalization
        self.cells = nn.ModuleList(
            SearchCell(p.index, p.c_prev_prev, p.c_prev, p.channels, spec.nodes, p.reduction, p.strides, spec.ops,
                       partial_channels, edge_normalization) for p in self.plans)
        zero = spec.ops.index("zero") if "zero" in spec.ops else None
        choices = []
        for k in range(spec.cells):
            for i in range(2, spec.nodes + 2):
                choices.extend(RelaxedChoice(edge_key(k, i, j), spec.ops, f"cell{k}", zero) for j in range(i))
                if edge_normalization:
                    choices.append(RelaxedChoice(node_key(k, i), tuple(str(j) for j in range(i)), f"cell{k}",
                                                 granularity="edge"))
        self._choices = tuple(choices)
        self._op_keys = [c.key for c in self._choices if c.granularity == "op"]

    def relaxed_choices(self) -> Sequence[RelaxedChoice]:
        return self._choices

    def forward(self, x: Tensor, mixing: Mapping[str, Tensor]) -> Tensor:
        keys = self._op_keys  # the operations' mixings: which candidates run (an edge mixing runs every edge)
        nonzero = (torch.stack([mixing[k] for k in keys]) != 0).cpu().tolist()  # one sync for all edges
        active = {k: [i for i, on in enumerate(row) if on] for k, row in zip(keys, nonzero)}
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, mixing, active)
        return self.head(s1, x.shape[-2:])

    # -- derivation ----------------------------------------------------------------------------------------------

    def _edge_scores(self, k: int, i: int, logp: Mapping[str, Tensor]) -> list[float]:
        """Per incoming edge of node ``i``, what keeping it adds to a sample's score beside its operation's: the
        log-probability of its edge weight with edge normalisation (PC-DARTS' edge weight times op weight), else 0."""
        if not self.edge_normalization:
            return [0.0] * i
        return [float(v) for v in logp[node_key(k, i)]]

    def _node_factor(self, k: int, i: int, logp: Mapping[str, Tensor]) -> Factor:
        ops = self.spec.ops
        usable = [o for o, name in enumerate(ops) if name != "zero"]
        edge = self._edge_scores(k, i, logp)
        options = []
        for j1 in range(i):
            for j2 in range(j1 + 1, i):
                for o1 in usable:
                    for o2 in usable:
                        score = float((logp[edge_key(k, i, j1)][o1] + edge[j1]) +
                                      (logp[edge_key(k, i, j2)][o2] + edge[j2]))
                        options.append((score, {op_label(k, i, 0): ops[o1], input_label(k, i, 0): [j1],
                                                op_label(k, i, 1): ops[o2], input_label(k, i, 1): [j2]}))
        return Factor(tuple(options))

    def derive(self, probs: Mapping[str, Tensor], top_k: int = 1) -> list[tuple[dict[str, Any], float]]:
        """Per node the two strongest incoming edges (by their strongest non-zero op, plus the edge weight's
        log-probability with edge normalisation) with that op; the top-k by the summed log-probabilities of the
        kept (edge, op) entries and, with edge normalisation, of the kept edges' weights."""
        logp = log_scores(probs)
        if top_k == 1:  # the argmax, without enumerating every node's options (derivations ask for it often)
            return [self._argmax(logp)]
        factors = [self._node_factor(k, i, logp) for k in range(self.spec.cells)
                   for i in range(2, self.spec.nodes + 2)]
        return [(sample, score) for score, sample in kbest(factors, top_k)]

    def _argmax(self, logp: Mapping[str, Tensor]) -> tuple[dict[str, Any], float]:
        """The best sample: per node, each edge's best non-zero op, then the best pair of edges. Ties break as
        :meth:`_node_factor`'s enumeration order does (first edge pair, then first ops)."""
        ops = self.spec.ops
        usable = torch.tensor([name != "zero" for name in ops])
        sample: dict[str, Any] = {}
        total = 0.0
        for k in range(self.spec.cells):
            for i in range(2, self.spec.nodes + 2):
                best = []
                for j, edge in enumerate(self._edge_scores(k, i, logp)):
                    scores = logp[edge_key(k, i, j)].masked_fill(~usable, -math.inf)
                    o = int(torch.argmax(scores))  # the first of equal maxima
                    best.append((o, scores[o] + edge))
                top, pair = -math.inf, (0, 1)
                for j1 in range(i):
                    for j2 in range(j1 + 1, i):
                        score = float(best[j1][1] + best[j2][1])
                        if score > top:
                            top, pair = score, (j1, j2)
                total += top
                for slot, j in enumerate(pair):
                    sample[op_label(k, i, slot)] = ops[best[j][0]]
                    sample[input_label(k, i, slot)] = [j]
        return sample, total

    def extract(self, sample: Mapping[str, Any]) -> GasNetwork:
        """The stand-alone network of ``sample`` carrying the supernet's (shared) weights. Needs a supernet without
        partial channels (its operations are narrower than a derived network's)."""
        if self.partial_channels != 1:
            raise IncompatibleComponentsError(
                f"a supernet with partial channels (1/{self.partial_channels} of each edge's channels through its "
                "operations) has operations narrower than the derived network's, so its weights do not carry "
                "over; retrain the derived network (as PC-DARTS does) or search with partial_channels: 1")
        genotype = genotype_of(self.spec, sample)
        num_classes = self.head.classifier.out_channels
        net = GasNetwork(self.spec, genotype, num_classes).to(next(self.parameters()).device)
        net.stem.load_state_dict(self.stem.state_dict())
        net.head.load_state_dict(self.head.state_dict())
        for k, (fixed, search) in enumerate(zip(net.cells, self.cells)):
            for name in ("pre0", "pre1", "project"):
                getattr(fixed, name).load_state_dict(getattr(search, name).state_dict())
            for i, pairs in enumerate(genotype[k], start=2):
                for slot, (op, src) in enumerate(pairs):
                    mixed = search.edges[f"{i}_{src}"]
                    fixed.ops[i - 2][slot].load_state_dict(mixed.ops[mixed.names.index(op)].state_dict())
        return net

    def mixing_for(self, sample: Mapping[str, Any]) -> dict[str, Tensor]:
        device = next(self.parameters()).device
        chosen = [(edge_key(k, i, sample[input_label(k, i, slot)][0]), sample[op_label(k, i, slot)])
                  for k in range(self.spec.cells) for i in range(2, self.spec.nodes + 2) for slot in (0, 1)]
        mixing = selection_mixing(self._op_keys, self.spec.ops, chosen, device)
        if self.edge_normalization:  # weight 1 on each kept edge: the node sums them as the derived cell does
            for k in range(self.spec.cells):
                for i in range(2, self.spec.nodes + 2):
                    w = torch.zeros(i, device=device)
                    w[[sample[input_label(k, i, slot)][0] for slot in (0, 1)]] = 1.0
                    mixing[node_key(k, i)] = w
        return mixing


def selection_mixing(keys: Sequence[str], ops: Sequence[str], chosen: Sequence[tuple[str, str]],
                     device: torch.device) -> dict[str, Tensor]:
    """Mixing weights under which a supernet of mixed edges computes one network: per edge key a weight per
    operation, 1 for each ``(edge key, operation)`` chosen (added up when an edge is chosen twice), every other
    edge off (its ``zero`` operation when the set has one, else all weights 0). The gas and dcnas spaces share it."""
    zero = ops.index("zero") if "zero" in ops else None
    mixing = {}
    for key in keys:
        w = torch.zeros(len(ops), device=device)
        if zero is not None:
            w[zero] = 1.0
        mixing[key] = w
    for key, op in chosen:
        w = mixing[key]
        if zero is not None:
            w[zero] = 0.0
        w[ops.index(op)] += 1.0
    return mixing


def genotype_of(spec: GasSpec, sample: Mapping[str, Any]) -> Genotype:
    return [[[(sample[op_label(k, i, s)], sample[input_label(k, i, s)][0]) for s in (0, 1)]
             for i in range(2, spec.nodes + 2)] for k in range(spec.cells)]


def log10_size(spec: GasSpec) -> float:
    ops = len([o for o in spec.ops if o != "zero"])
    return sum(2 * math.log10(ops * i) for _ in range(spec.cells) for i in range(2, spec.nodes + 2))
