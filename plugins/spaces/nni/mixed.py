"""The mixed modules of a relaxed NNI space: what each NNI primitive becomes in the supernet.

They read the weights of the forward pass in progress from one shared :class:`MixingState`, keyed by NNI
labels (``NniSupernet.forward(x, mixing)`` sets it). Weights of exactly zero are skipped, so a one-hot mixing
computes one network: the one ``space.freeze(sample)`` builds, with the supernet's weights.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from gasnas.api import IncompatibleComponentsError
from gasnas_plugins.nni_support import require

__all__ = ["MixingState", "ValueSite", "MixedLayer", "MixedInput", "MixedRepeat", "MixedCell", "MaskedLayer",
           "weighted_sum", "edge_key", "group_of"]


def edge_key(cell: str, node: int, source: int) -> str:
    """The relaxed key of the edge from state ``source`` to node ``node`` of cell ``cell`` (as the gas space)."""
    return f"{cell}/edge_{node}_{source}"


def group_of(label: str) -> str:
    return label.rsplit("/", 1)[0] if "/" in label else label


class MixingState:
    """The mixing weights of the forward pass in progress, shared by every mixed module of one supernet."""

    def __init__(self) -> None:
        self.weights: Mapping[str, Tensor] | None = None
        self.active: Mapping[str, list[int]] | None = None

    def of(self, key: str) -> tuple[Tensor, list[int]]:
        if self.weights is None or self.active is None:
            raise RuntimeError("a mixed module ran outside NniSupernet.forward(x, mixing)")
        return self.weights[key], self.active[key]


def weighted_sum(what: str, terms: Sequence[tuple[str, Tensor, Any]]) -> Tensor:
    """sum of w * y over ``(name, w, y)``; outputs must be tensors of one shape (they are added)."""
    total = None
    first_name, first_shape = "", None
    for name, w, y in terms:
        if not isinstance(y, Tensor):
            raise IncompatibleComponentsError(
                f"{what}: candidate {name!r} returns {type(y).__name__}; a relaxed search sums the candidates' "
                "outputs, so they must be tensors")
        if first_shape is None:
            first_name, first_shape = name, y.shape
        elif y.shape != first_shape:
            raise IncompatibleComponentsError(
                f"{what}: candidates {first_name!r} and {name!r} give outputs of shapes {tuple(first_shape)} and "
                f"{tuple(y.shape)}; a relaxed search sums the candidates' outputs, so their shapes must agree "
                "(NNI's DARTS has the same requirement)")
        total = w * y if total is None else total + w * y
    if total is None:
        raise RuntimeError(f"{what}: every candidate has weight 0")
    return total


class ValueSite:
    """The value of an NNI argument that is a ``Categorical`` or an expression of ``Categorical`` s, as a
    distribution over its values under the mixing weights of the labels it reads."""

    MAX_ASSIGNMENTS = 4096

    def __init__(self, mutable: Any, where: str) -> None:
        nni_mutable = require("nni.mutable")
        leaves = mutable.simplify()
        for label, leaf in leaves.items():
            if not isinstance(leaf, nni_mutable.Categorical):
                raise IncompatibleComponentsError(
                    f"{where} depends on '{label}', a {type(leaf).__name__} choice: a relaxed search needs "
                    "categorical choices (nni.choice); replace it with nni.choice over a few values")
        self.where = where
        self.leaves: dict[str, Any] = {str(label): leaf for label, leaf in leaves.items()}  # NNI labels: str subclass
        self.labels = list(self.leaves)
        sizes = [len(self.leaves[label].values) for label in self.labels]
        count = 1
        for n in sizes:
            count *= n
        if count > self.MAX_ASSIGNMENTS:
            raise IncompatibleComponentsError(f"{where} depends on {len(sizes)} choices with {count} combinations; "
                                              f"at most {self.MAX_ASSIGNMENTS} can be relaxed")
        self.assignments: list[tuple[Any, tuple[int, ...]]] = []
        for idx in itertools.product(*(range(n) for n in sizes)):
            sample = {label: self.leaves[label].values[i] for label, i in zip(self.labels, idx)}
            self.assignments.append((mutable.freeze(sample), idx))
        self.values = list(dict.fromkeys(v for v, _ in self.assignments))

    def value(self, sample: Mapping[str, Any]) -> Any:
        """The value under ``sample`` (labels it lacks take their first value)."""
        chosen = tuple(self.leaves[label].values.index(sample[label]) if label in sample else 0
                       for label in self.labels)
        return next(v for v, idx in self.assignments if idx == chosen)

    def distribution(self, mixing: MixingState) -> list[tuple[Any, Tensor]]:
        """``(value, weight)`` for every value with a non-zero weight."""
        weights, active = zip(*(mixing.of(label) for label in self.labels))
        active_sets = [set(a) for a in active]
        out: dict[Any, Tensor] = {}
        for value, idx in self.assignments:
            if any(i not in a for i, a in zip(idx, active_sets)):
                continue
            w = weights[0][idx[0]]
            for k in range(1, len(idx)):
                w = w * weights[k][idx[k]]
            out[value] = w if value not in out else out[value] + w
        return list(out.items())


class MixedLayer(nn.Module):
    """``LayerChoice`` relaxed: the candidates' outputs summed with their mixing weights."""

    def __init__(self, label: str, names: Sequence[Any], candidates: Sequence[nn.Module], mixing: MixingState) -> None:
        super().__init__()
        self.label, self.names = label, list(names)
        self.candidates = nn.ModuleList(candidates)
        self._mixing = mixing

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        w, active = self._mixing.of(self.label)
        return weighted_sum(f"LayerChoice '{self.label}'",
                            [(str(self.names[i]), w[i], self.candidates[i](*args, **kwargs)) for i in active])


class MixedInput(nn.Module):
    """``InputChoice`` relaxed: the inputs summed with their weights, scaled so that ``n_chosen`` one-hot
    weights give exactly the chosen inputs' sum (or mean)."""

    def __init__(self, label: str, n_candidates: int, n_chosen: int, reduction: str, mixing: MixingState) -> None:
        super().__init__()
        self.label, self.n_candidates, self.n_chosen, self.reduction = label, n_candidates, n_chosen, reduction
        self._mixing = mixing

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        if len(inputs) != self.n_candidates:
            raise ValueError(f"InputChoice '{self.label}' expects {self.n_candidates} inputs, got {len(inputs)}")
        w, active = self._mixing.of(self.label)
        total = weighted_sum(f"InputChoice '{self.label}'", [(str(i), w[i], inputs[i]) for i in active])
        scale = (self.n_chosen if self.reduction == "sum" else 1) / w[active].sum()
        return total * scale


class MixedRepeat(nn.Module):
    """``Repeat`` with a depth choice relaxed: the outputs after each possible depth, weighted (NNI's DARTS)."""

    def __init__(self, label: str, depth: ValueSite, blocks: Sequence[nn.Module], mixing: MixingState) -> None:
        super().__init__()
        self.label, self.depth = label, depth
        self.blocks = nn.ModuleList(blocks)
        self._mixing = mixing

    def forward(self, x: Tensor) -> Tensor:
        weights = dict(self.depth.distribution(self._mixing))
        terms = [("depth 0", weights[0], x)] if 0 in weights else []
        for depth, block in enumerate(self.blocks[:max(weights)], start=1):
            x = block(x)
            if depth in weights:
                terms.append((f"depth {depth}", weights[depth], x))
        return weighted_sum(f"Repeat '{self.label}'", terms)


class MaskedLayer(nn.Module):
    """A Mutable layer with channel choices, at its largest size; output channels beyond the chosen size are
    masked with the expected mask over the choice's values (FBNetV2, as NNI's DARTS for Mutable layers)."""

    def __init__(self, layer: nn.Module, out: ValueSite | None, dim: int, mixing: MixingState) -> None:
        super().__init__()
        self.layer, self.out, self.dim = layer, out, dim
        self._mixing = mixing

    def forward(self, x: Tensor) -> Tensor:
        y = self.layer(x)
        if self.out is None:
            return y
        dim = self.dim % y.dim()
        channels = torch.arange(y.shape[dim], device=y.device)
        mask = None
        for value, w in self.out.distribution(self._mixing):
            m = w * (channels < value).to(y.dtype)
            mask = m if mask is None else mask + m
        shape = [1] * y.dim()
        shape[dim] = -1
        return y * mask.view(shape)


class MixedCell(nn.Module):
    """NNI's ``Cell`` relaxed as in DARTS: node i = sum over earlier states j of the edge (i, j)'s mixture of
    every operation and "no edge"; the output concatenates every node (``merge_op='all'``)."""

    def __init__(self, cell: Any, edges: Mapping[tuple[int, int], Sequence[nn.Module]], op_names: Sequence[str],
                 mixing: MixingState) -> None:
        super().__init__()
        self.label = str(cell.label)
        self.num_nodes, self.num_ops_per_node = cell.num_nodes, cell.num_ops_per_node
        self.num_predecessors, self.concat_dim = cell.num_predecessors, cell.concat_dim
        self.preprocessor, self.postprocessor = cell.preprocessor, cell.postprocessor
        self.op_names = list(op_names)
        self.edges = nn.ModuleDict({f"{i}_{j}": nn.ModuleList(ops) for (i, j), ops in edges.items()})
        self.zero = len(self.op_names)  # index of "no edge" in every edge's weights
        self._mixing = mixing
        self.recorded_shapes: list[tuple[int, ...]] | None = None  # set by the latency description

    def nodes(self) -> range:
        return range(self.num_predecessors, self.num_predecessors + self.num_nodes)

    def forward(self, *inputs: Any) -> Any:
        from nni.nas.nn.pytorch.cell import preprocess_cell_inputs

        processed = preprocess_cell_inputs(self.num_predecessors, *inputs)
        states = list(self.preprocessor(processed))
        for i in self.nodes():
            terms = []
            for j in range(i):
                w, active = self._mixing.of(edge_key(self.label, i, j))
                ops = self.edges[f"{i}_{j}"]
                terms += [(f"{self.op_names[o]} on state {j}", w[o], ops[o](states[j]))
                          for o in active if o != self.zero]
            states.append(weighted_sum(f"Cell '{self.label}' node {i}", terms))
        if self.recorded_shapes is not None:
            self.recorded_shapes = [tuple(s.shape) for s in states]
        return self.postprocessor(torch.cat(states[self.num_predecessors:], self.concat_dim), processed)
