"""DCNAS networks: stem to 1/4 -> a grid of cells (layer, scale), densely connected -> head over the last layer.

Every cell reads the stem and every cell of the earlier layers (see :mod:`~gasnas_plugins.spaces.dcnas.cells`);
the head fuses the cells of the last layer, so a derived network holds the cells reachable backwards from them
through the paths each cell keeps. :class:`DcnasSupernet` holds every path and every operation; with the space's
sampling options it runs only some paths per step and only a fraction of each edge's channels through its
operations (memory), and derives exactly as without.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api import IncompatibleComponentsError
from gasnas.api.space import Factor, RelaxedChoice, Supernet, kbest, log_scores
from gasnas_plugins.spaces.dcnas.cells import (STEM, Cell, FixedCell, SearchCell, edge_key, input_label, inputs_label,
                                               node_key, op_label, sources_of)
from gasnas_plugins.spaces.dcnas.options import DcnasSpec, Sampling
from gasnas_plugins.spaces.gas.network import selection_mixing
from gasnas_plugins.spaces.gas.ops import ConvBNReLU

__all__ = ["Stem", "Head", "DcnasNetwork", "DcnasSupernet", "grid", "used_cells", "kept_sources", "has_inputs_choice",
           "genotype_of", "scale_sizes"]


def grid(spec: DcnasSpec) -> list[Cell]:
    """Every cell in network order: layer by layer, fine to coarse."""
    return [(l, s) for l in range(spec.layers) for s in range(spec.scales)]


def has_inputs_choice(spec: DcnasSpec, cell: Cell) -> bool:
    """Whether the cell chooses among its paths (it has more than it keeps)."""
    return len(sources_of(cell, spec.scales)) > spec.inputs


def kept_sources(spec: DcnasSpec, cell: Cell, sample: Mapping[str, Any]) -> list[Cell]:
    """The sources whose paths the cell of ``sample`` keeps (all of them when it has no more than it keeps)."""
    sources = sources_of(cell, spec.scales)
    return [sources[i] for i in sample[inputs_label(*cell)]] if has_inputs_choice(spec, cell) else sources


def used_cells(spec: DcnasSpec, sample: Mapping[str, Any]) -> list[Cell]:
    """The cells the head reaches through the kept paths, in network order."""
    todo = [(spec.layers - 1, s) for s in range(spec.scales)]
    used: set[Cell] = set()
    while todo:
        cell = todo.pop()
        if cell == STEM or cell in used:
            continue
        used.add(cell)
        todo.extend(kept_sources(spec, cell, sample))
    return sorted(used)


def genotype_of(spec: DcnasSpec, cell: Cell, sample: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(operation, input state) of each node of a cell."""
    return [(sample[op_label(*cell, i)], sample[input_label(*cell, i)][0]) for i in range(1, spec.nodes + 1)]


def scale_sizes(stem_out: Tensor, scales: int) -> list[tuple[int, int]]:
    h, w = stem_out.shape[-2:]
    return [(-(-h // 2 ** s), -(-w // 2 ** s)) for s in range(scales)]


def _source_shape(spec: DcnasSpec, source: Cell) -> tuple[int, int]:
    """(width, scale) of a source's output."""
    return (spec.stem_channels[-1], 0) if source == STEM else (spec.width(source[1]), source[1])


class Stem(nn.Sequential):
    """Two 3x3 stride-2 conv-BN-ReLU layers: 1/4 of the input."""

    def __init__(self, widths: Sequence[int]) -> None:
        super().__init__(ConvBNReLU(3, widths[0], 3, 2), ConvBNReLU(widths[0], widths[1], 3, 2))


class Head(nn.Module):
    """The last layer's cells, each 1x1 to ``channels`` and upsampled to 1/4, summed; a 3x3 conv; classifier;
    bilinear resize to the input (ours)."""

    def __init__(self, widths: Sequence[int], channels: int, num_classes: int) -> None:
        super().__init__()
        self.reduce = nn.ModuleList(ConvBNReLU(c, channels, kernel=1) for c in widths)
        self.refine = ConvBNReLU(channels, channels, 3)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, states: Sequence[Tensor], size: Sequence[int]) -> Tensor:
        fine = states[0].shape[-2:]
        y = sum(F.interpolate(r(x), size=fine, mode="bilinear", align_corners=False) if i else r(x)
                for i, (r, x) in enumerate(zip(self.reduce, states)))
        y = self.classifier(self.refine(y))
        return F.interpolate(y, size=tuple(size), mode="bilinear", align_corners=False)


class DcnasNetwork(nn.Module):
    """A derived network: the cells the head reaches, each with its kept paths and one operation per node."""

    def __init__(self, spec: DcnasSpec, sample: Mapping[str, Any], num_classes: int) -> None:
        super().__init__()
        self.spec = spec
        self.stem = Stem(spec.stem_channels)
        self.order = used_cells(spec, sample)
        self.sources = {cell: kept_sources(spec, cell, sample) for cell in self.order}
        self.cells = nn.ModuleDict({
            f"{l}_{s}": FixedCell([_source_shape(spec, src) for src in self.sources[(l, s)]], spec.width(s), s,
                                  genotype_of(spec, (l, s), sample)) for l, s in self.order})
        self.head = Head([spec.width(s) for s in range(spec.scales)], spec.head_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        states = {STEM: self.stem(x)}
        sizes = scale_sizes(states[STEM], self.spec.scales)
        for l, s in self.order:
            states[(l, s)] = self.cells[f"{l}_{s}"]([states[src] for src in self.sources[(l, s)]], sizes[s])
        return self.head([states[(self.spec.layers - 1, s)] for s in range(self.spec.scales)], x.shape[-2:])


class DcnasSupernet(Supernet):
    """Every path of the dense grid and every operation on every edge. Relaxed per cell: the paths (where a
    cell has more than it keeps; their weights mix the fusion) and the operation of every edge of its DAG; with
    ``edge_normalization`` (PC-DARTS) also, per node of two or more incoming edges, a choice of granularity
    ``edge`` over them (after the node's edges) that weights them in the node's sum and adds its
    log-probability to the kept edge's score in a derivation."""

    def __init__(self, spec: DcnasSpec, num_classes: int, sampling: Sampling | None = None,
                 edge_normalization: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.sampling = sampling or Sampling()
        self.edge_normalization = edge_normalization
        self.grid = grid(spec)
        self.stem = Stem(spec.stem_channels)
        self.sources = {cell: sources_of(cell, spec.scales) for cell in self.grid}
        self.cells = nn.ModuleDict({
            f"{l}_{s}": SearchCell((l, s), [_source_shape(spec, src) for src in self.sources[(l, s)]], spec.width(s),
                                   spec.nodes, spec.ops, self.sampling.groups, edge_normalization)
            for l, s in self.grid})
        self.head = Head([spec.width(s) for s in range(spec.scales)], spec.head_channels, num_classes)
        zero = spec.ops.index("zero") if "zero" in spec.ops else None
        choices = []
        for cell in self.grid:
            group = f"layer{cell[0]}/scale{cell[1]}"
            if has_inputs_choice(spec, cell):
                names = tuple("stem" if src == STEM else f"layer{src[0]}/scale{src[1]}" for src in self.sources[cell])
                choices.append(RelaxedChoice(inputs_label(*cell), names, group, granularity="path"))
            for i in range(1, spec.nodes + 1):
                choices.extend(RelaxedChoice(edge_key(*cell, i, j), spec.ops, group, zero) for j in range(i))
                if edge_normalization and i > 1:
                    choices.append(RelaxedChoice(node_key(*cell, i), tuple(str(j) for j in range(i)), group,
                                                 granularity="edge"))
        self._choices = tuple(choices)
        self._edge_choices = {c.key for c in choices if c.granularity == "edge"}
        self.usable = tuple(o for o, name in enumerate(spec.ops) if name != "zero")

    def relaxed_choices(self) -> Sequence[RelaxedChoice]:
        return self._choices

    def _paths(self, weights: Tensor) -> list[int]:
        """The paths a step runs: those of non-zero weight, or (path sampling, training) ``paths`` of them drawn
        without replacement by their weights."""
        active = [i for i, w in enumerate(weights.tolist()) if w != 0]
        k = self.sampling.paths
        if not self.training or k is None or len(active) <= k:
            return active
        drawn = torch.multinomial(weights[active], k, replacement=False)
        return sorted(active[int(i)] for i in drawn)

    def forward(self, x: Tensor, mixing: Mapping[str, Tensor]) -> Tensor:
        flat = torch.cat([mixing[c.key].detach().float().reshape(-1) for c in self._choices]).cpu()  # one sync
        values, at = {}, 0
        for c in self._choices:
            values[c.key] = flat[at:at + len(c.candidates)]
            at += len(c.candidates)
        active = {c.key: [i for i, w in enumerate(values[c.key].tolist()) if w != 0] for c in self._choices}
        states = {STEM: self.stem(x)}
        sizes = scale_sizes(states[STEM], self.spec.scales)
        for cell in self.grid:
            sources = self.sources[cell]
            key = inputs_label(*cell)
            if key in values:
                weights, paths = mixing[key], self._paths(values[key])
            else:
                weights, paths = [1.0] * len(sources), list(range(len(sources)))
            states[cell] = self.cells[f"{cell[0]}_{cell[1]}"]([states[src] for src in sources], sizes[cell[1]],
                                                              weights, paths, mixing, active)
        return self.head([states[(self.spec.layers - 1, s)] for s in range(self.spec.scales)], x.shape[-2:])

    # -- derivation ----------------------------------------------------------------------------------------------

    def _inputs_factor(self, cell: Cell, scores: Tensor, top_k: int) -> Factor:
        """The ``inputs``-subsets of a cell's paths with their summed log-scores. The ``top_k`` best subsets use
        only the ``inputs + top_k - 1`` best paths, so only those are combined."""
        k = self.spec.inputs
        ranked = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))[:k + top_k - 1]
        options = tuple((float(sum(scores[i] for i in combo)), {inputs_label(*cell): sorted(combo)})
                        for combo in itertools.combinations(ranked, k))
        return Factor(options)

    def _node_factor(self, cell: Cell, node: int, logp: Mapping[str, Tensor]) -> Factor:
        """The node's (edge, non-zero operation) pairs, scored by the operation's log-probability plus, with edge
        normalisation, the edge weight's (PC-DARTS: edge weight times operation weight)."""
        ops = self.spec.ops
        key = node_key(*cell, node)
        edge = [float(v) for v in logp[key]] if key in self._edge_choices else [0.0] * node
        return Factor(tuple((float(logp[edge_key(*cell, node, j)][o] + edge[j]),
                             {op_label(*cell, node): ops[o], input_label(*cell, node): [j]})
                            for j in range(node) for o in self.usable))

    def derive(self, probs: Mapping[str, Tensor], top_k: int = 1) -> list[tuple[dict[str, Any], float]]:
        """Per cell the ``inputs`` strongest paths; per node its strongest (edge, non-zero operation), with edge
        normalisation the edge weight's log-score added; the top-k by the summed log-scores of every label, those
        of cells the head does not reach included."""
        logp = log_scores(probs)
        factors = []
        for cell in self.grid:
            if has_inputs_choice(self.spec, cell):
                factors.append(self._inputs_factor(cell, logp[inputs_label(*cell)], top_k))
            factors.extend(self._node_factor(cell, i, logp) for i in range(1, self.spec.nodes + 1))
        return [(sample, score) for score, sample in kbest(factors, top_k)]

    def mixing_for(self, sample: Mapping[str, Any]) -> dict[str, Tensor]:
        device = next(self.parameters()).device
        chosen = [(edge_key(*cell, i, sample[input_label(*cell, i)][0]), sample[op_label(*cell, i)])
                  for cell in self.grid for i in range(1, self.spec.nodes + 1)]
        edges = [c.key for c in self._choices if c.granularity == "op"]
        mixing = selection_mixing(edges, self.spec.ops, chosen, device)
        for c in self._choices:
            if c.key.endswith("/inputs"):
                mixing[c.key] = torch.zeros(len(c.candidates), device=device)
                mixing[c.key][sample[c.key]] = 1.0
        for cell in self.grid:  # edge normalisation: weight 1 on the kept edge, as the derived node has it
            for i in range(2, self.spec.nodes + 1):
                if node_key(*cell, i) in self._edge_choices:
                    mixing[node_key(*cell, i)] = F.one_hot(torch.tensor(sample[input_label(*cell, i)][0]),
                                                           i).float().to(device)
        return mixing

    def extract(self, sample: Mapping[str, Any]) -> DcnasNetwork:
        """The stand-alone network of ``sample`` carrying the supernet's (shared) weights; under
        :meth:`mixing_for` the supernet (without path sampling) computes the same function. Needs a supernet
        without channel sampling (its operations are narrower than a derived network's)."""
        if self.sampling.groups != 1:
            raise IncompatibleComponentsError(
                f"a supernet with channel sampling (channel_fraction 1/{self.sampling.groups}) has operations "
                "narrower than the derived network's, so its weights do not carry over; retrain the derived "
                "network (as PC-DARTS does) or search with channel_fraction: 1")
        net = DcnasNetwork(self.spec, sample, self.head.classifier.out_channels).to(next(self.parameters()).device)
        net.stem.load_state_dict(self.stem.state_dict())
        net.head.load_state_dict(self.head.state_dict())
        for l, s in net.order:
            fixed, search = net.cells[f"{l}_{s}"], self.cells[f"{l}_{s}"]
            sources = self.sources[(l, s)]
            for path, src in zip(fixed.fusion.paths, net.sources[(l, s)]):
                path.load_state_dict(search.fusion.paths[sources.index(src)].state_dict())
            for node, ((op, j), module) in enumerate(zip(fixed.genotype, fixed.ops), start=1):
                mixed = search.edges[f"{node}_{j}"]
                module.load_state_dict(mixed.ops[mixed.names.index(op)].state_dict())
            fixed.project.load_state_dict(search.project.state_dict())
        return net
