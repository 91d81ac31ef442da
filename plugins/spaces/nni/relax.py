"""Relaxing an NNI model space into a gasnas supernet: each NNI primitive becomes a mixed module.

The mixed modules read the weights of the forward pass in progress from one shared :class:`MixingState`
(``NniSupernet.forward(x, mixing)`` sets it), keyed by NNI labels:

- ``LayerChoice`` -> :class:`MixedLayer`: the candidates' outputs summed with their weights (DARTS);
- ``InputChoice`` (``sum``/``mean``) -> :class:`MixedInput`: the inputs summed with their weights;
- ``Repeat`` with a depth choice -> :class:`MixedRepeat`: the outputs after each possible depth, weighted;
- ``Cell`` -> :class:`MixedCell`: DARTS' cell -- every (node, earlier state) edge mixes all operations plus
  "no edge", keyed ``<cell>/edge_<node>_<input>`` like the ``gas`` space (NNI's DARTS does the same);
- ``Mutable{Conv,Linear,BatchNorm}*`` with channel choices -> :class:`MaskedLayer`: the layer at its largest
  size, its output channels masked by the expected width (FBNetV2, as NNI's DARTS).

Weights of exactly zero are skipped, so a one-hot mixing (``Supernet.mixing_for``) computes exactly one
network: the one ``space.freeze(sample)`` builds, with the supernet's weights.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gasnas.api.space import RelaxedChoice
from gasnas.errors import IncompatibleComponentsError
from gasnas_plugins.spaces.nni._nni import nas_nn, require

__all__ = ["MixingState", "ValueSite", "MixedLayer", "MixedInput", "MixedRepeat", "MixedCell", "MaskedLayer",
           "Site", "Unit", "Relaxer", "edge_key"]

#: torch layers whose channel arguments may be choices: (input-size argument, output-size argument, channel dim)
WIDTH_ARGS: dict[type, tuple[str | None, str, int]] = {
    nn.Conv1d: ("in_channels", "out_channels", 1),
    nn.Conv2d: ("in_channels", "out_channels", 1),
    nn.Conv3d: ("in_channels", "out_channels", 1),
    nn.Linear: ("in_features", "out_features", -1),
    nn.BatchNorm1d: (None, "num_features", 1),
    nn.BatchNorm2d: (None, "num_features", 1),
    nn.BatchNorm3d: (None, "num_features", 1),
}


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
        self.leaves: dict[str, Any] = dict(leaves)
        self.labels = list(leaves)
        sizes = [len(leaves[label].values) for label in self.labels]
        count = 1
        for n in sizes:
            count *= n
        if count > self.MAX_ASSIGNMENTS:
            raise IncompatibleComponentsError(f"{where} depends on {len(sizes)} choices with {count} combinations; "
                                              f"at most {self.MAX_ASSIGNMENTS} can be relaxed")
        self.assignments: list[tuple[Any, tuple[int, ...]]] = []
        for idx in itertools.product(*(range(n) for n in sizes)):
            sample = {label: leaves[label].values[i] for label, i in zip(self.labels, idx)}
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
        self.label = cell.label
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
                terms += [(f"{self.op_names[o]} on state {j}", w[o], ops[o](states[j])) for o in active if o != self.zero]
            states.append(weighted_sum(f"Cell '{self.label}' node {i}", terms))
        if self.recorded_shapes is not None:
            self.recorded_shapes = [tuple(s.shape) for s in states]
        return self.postprocessor(torch.cat(states[self.num_predecessors:], self.concat_dim), processed)


@dataclass(eq=False)
class Site:
    """A relaxed place in the supernet, for the latency description: its key, its candidates' original NNI
    modules, and the site whose candidate (or Repeat block) encloses it."""

    kind: str  # "layer", "repeat", "width" or "edge"
    key: str
    module: nn.Module | None = None
    parent: tuple[Site, int] | None = None
    originals: list[Any] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    """One independent part of a derivation: a categorical label, an input choice, or a cell."""

    kind: str  # "one", "multi" or "cell"
    label: str
    values: tuple[Any, ...] = ()
    n_chosen: int = 1
    cell: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


class Relaxer:
    """Turns an NNI model space into a supernet in place, collecting relaxed choices, derivation units, the
    labels it relaxed, and (with ``keep_originals``) the sites a latency description needs."""

    def __init__(self, mixing: MixingState, *, keep_originals: bool = False) -> None:
        self.nn = nas_nn()
        self.mutable = require("nni.mutable")
        self.mixing = mixing
        self.keep_originals = keep_originals
        self.choices: dict[str, RelaxedChoice] = {}
        self.units: dict[str, Unit] = {}
        self.covered: set[str] = set()
        self.sites: list[Site] = []
        self._stack: list[tuple[Site, int]] = []

    def relax(self, root: nn.Module) -> nn.Module:
        with self.mutable.frozen_context():  # Mutable layers made by cell op factories need one (as in NNI)
            self._children(root, "")
        return root

    # -- traversal ---------------------------------------------------------------------------------------------

    def _children(self, module: nn.Module, path: str) -> None:
        for name, child in list(module.named_children()):
            module._modules[name] = self._convert(child, f"{path}.{name}" if path else name)

    def _convert(self, module: nn.Module, path: str) -> nn.Module:
        N = self.nn
        if isinstance(module, N.Cell):
            return self._cell(module, path)
        if isinstance(module, N.LayerChoice):
            return self._layer(module, path)
        if isinstance(module, N.InputChoice):
            return self._input(module, path)
        if isinstance(module, N.Repeat):
            return self._repeat(module, path)
        if isinstance(module, N.ParametrizedModule):
            return self._parametrized(module, path)
        if isinstance(module, N.MutableModule) and module.mutables:
            labels = sorted({m.label for mut in module.mutables for m in mut.simplify().values()})
            raise IncompatibleComponentsError(
                f"module '{path}' ({type(module).__name__}) registers the choice(s) {', '.join(labels)} with "
                "add_mutable and fixes them when the space is built: a supernet cannot relax such choices (NNI's "
                "one-shot strategies refuse them too); express them with LayerChoice or Mutable layers, or use a "
                "sampling strategy")
        self._children(module, path)
        return module

    @contextmanager
    def _inside(self, site: Site, index: int) -> Iterator[None]:
        self._stack.append((site, index))
        try:
            yield
        finally:
            self._stack.pop()

    def _site(self, kind: str, key: str, **info: Any) -> Site:
        site = Site(kind, key, parent=self._stack[-1] if self._stack else None, info=info)
        self.sites.append(site)
        return site

    def _original(self, module: Any) -> Any:
        return copy.deepcopy(module) if self.keep_originals else None

    # -- choices and derivation units --------------------------------------------------------------------------

    def _choice(self, choice: RelaxedChoice, unit: Unit | None, where: str) -> None:
        known = self.choices.get(choice.key)
        if known is not None and known.candidates != choice.candidates:
            raise IncompatibleComponentsError(
                f"label '{choice.key}' is used by two choices with different candidates ({list(known.candidates)} "
                f"and {list(choice.candidates)}, at {where}); a shared label must mean one choice")
        self.choices.setdefault(choice.key, choice)
        if unit is not None:
            self.units.setdefault(unit.label, unit)
            self.covered.add(unit.label)

    def _leaves(self, site: ValueSite) -> None:
        for label, leaf in site.leaves.items():
            values = tuple(leaf.values)
            self._choice(RelaxedChoice(label, tuple(map(str, values)), group_of(label)), Unit("one", label, values),
                         site.where)

    # -- primitives --------------------------------------------------------------------------------------------

    def _layer(self, choice: Any, path: str) -> MixedLayer:
        label, names = choice.label, list(choice.names)
        self._choice(RelaxedChoice(label, tuple(map(str, names)), group_of(label)), Unit("one", label, tuple(names)),
                     f"LayerChoice {path}")
        site = self._site("layer", label, names=names)
        candidates = []
        for index, name in enumerate(names):
            site.originals.append(self._original(choice[name]))
            with self._inside(site, index):
                candidates.append(self._convert(choice[name], f"{path}.{name}"))
        site.module = MixedLayer(label, names, candidates, self.mixing)
        return site.module

    def _input(self, choice: Any, path: str) -> MixedInput:
        label = choice.label
        if choice.n_chosen is None:
            raise IncompatibleComponentsError(f"InputChoice '{label}' ({path}) has n_chosen=None (any number of "
                                              "inputs), which gasnas cannot relax; give n_chosen")
        if choice.reduction not in ("sum", "mean"):
            raise IncompatibleComponentsError(
                f"InputChoice '{label}' ({path}) reduces with '{choice.reduction}': a relaxed search sums the "
                "inputs, so only 'sum' and 'mean' can be relaxed (as in NNI's DARTS)")
        n = choice.n_candidates
        self._choice(RelaxedChoice(label, tuple(str(i) for i in range(n)), group_of(label)),
                     Unit("multi", label, tuple(range(n)), choice.n_chosen), f"InputChoice {path}")
        return MixedInput(label, n, choice.n_chosen, choice.reduction, self.mixing)

    def _repeat(self, repeat: Any, path: str) -> nn.Module:
        if not isinstance(repeat.depth_choice, self.mutable.Mutable):
            self._children(repeat, path)
            return repeat
        depth = ValueSite(repeat.depth_choice, f"Repeat {path}")
        if not all(isinstance(v, int) and v >= 0 for v in depth.values):
            raise IncompatibleComponentsError(f"Repeat {path}: depths must be integers >= 0, got {depth.values}")
        self._leaves(depth)
        label = repeat.label or "+".join(depth.labels)
        site = self._site("repeat", label, depth=depth)
        blocks = []
        for index, block in enumerate(repeat.blocks):
            site.originals.append(self._original(block))
            with self._inside(site, index):
                blocks.append(self._convert(block, f"{path}.blocks.{index}"))
        site.module = MixedRepeat(label, depth, blocks, self.mixing)
        return site.module

    def _parametrized(self, module: Any, path: str) -> nn.Module:
        mutable_args = {k: v for k, v in module.args.items() if isinstance(v, self.mutable.Mutable)}
        if not mutable_args:
            return module
        base = next((c for c in type(module).__mro__ if c in WIDTH_ARGS), None)
        in_arg, out_arg, dim = WIDTH_ARGS.get(base, (None, "", 0))
        unsupported = [k for k in mutable_args if k not in (in_arg, out_arg)]
        if base is None or unsupported:
            what = ", ".join(f"{k}={v!r}" for k, v in mutable_args.items() if base is None or k in unsupported)
            raise IncompatibleComponentsError(
                f"{type(module).__name__} '{path}' has choices in its arguments ({what}): gasnas relaxes channel "
                "choices of Mutable{Conv1d,2d,3d, Linear, BatchNorm1d,2d,3d} only (kernel sizes and other arguments "
                "belong in a LayerChoice); use a sampling strategy to search it as it is")
        sites = {k: ValueSite(v, f"{type(module).__name__} '{path}' argument {k}") for k, v in mutable_args.items()}
        for site in sites.values():
            self._leaves(site)
        largest = {k: (max(sites[k].values) if k in sites else v) for k, v in module.args.items()}
        layer = base(**largest)
        site = self._site("width", next(iter(sites[out_arg].labels if out_arg in sites else sites[in_arg].labels)),
                          base=base, args=dict(module.args), sites=sites, in_arg=in_arg, out_arg=out_arg, dim=dim)
        site.module = MaskedLayer(layer, sites.get(out_arg), dim, self.mixing)
        return site.module

    def _cell(self, cell: Any, path: str) -> MixedCell:
        from nni.nas.nn.pytorch.cell import create_cell_op_candidates

        label = cell.label
        if cell.merge_op != "all":
            raise IncompatibleComponentsError(
                f"Cell '{label}' ({path}) has merge_op='{cell.merge_op}': its output width depends on the choices, "
                "which a supernet cannot mix (NNI's one-shot strategies refuse it too); use merge_op='all'")
        factory = cell.op_candidates_factory
        if factory is None:  # plain candidate modules: every edge gets copies of the first slot's candidates
            first = cell.ops[0][0]
            factory = {str(name): first[name] for name in first.names}
        edges: dict[tuple[int, int], list[nn.Module]] = {}
        op_names: list[str] = []
        nodes = range(cell.num_predecessors, cell.num_predecessors + cell.num_nodes)
        for i in nodes:
            for j in range(i):
                ops, _ = create_cell_op_candidates(factory, i, 0, j)  # as NNI's one-shot cells: op index 0
                op_names = [str(name) for name in ops]
                key = edge_key(label, i, j)
                site = self._site("edge", key, cell=label, node=i, source=j, slots=cell.num_ops_per_node)
                edges[(i, j)] = []
                for index, op in enumerate(ops.values()):
                    site.originals.append(self._original(op))
                    with self._inside(site, index):
                        edges[(i, j)].append(self._convert(op, f"{path}.{i}_{j}.{op_names[index]}"))
                zero = "zero" if "zero" not in op_names else "no_edge"
                self._choice(RelaxedChoice(key, (*op_names, zero), label, zero=len(op_names)), None, f"Cell {path}")
        for i in nodes:
            for k in range(cell.num_ops_per_node):
                self.covered.update({f"{label}/op_{i}_{k}", f"{label}/input_{i}_{k}"})
        self.units.setdefault(label, Unit("cell", label, tuple(op_names), cell.num_ops_per_node, {
            "nodes": list(nodes), "slots": cell.num_ops_per_node}))
        cell.preprocessor = self._convert(cell.preprocessor, f"{path}.preprocessor")
        cell.postprocessor = self._convert(cell.postprocessor, f"{path}.postprocessor")
        mixed = MixedCell(cell, edges, op_names, self.mixing)
        for site in self.sites:
            if site.kind == "edge" and site.info["cell"] == label and site.module is None:
                site.module = mixed
        return mixed


def node_options(unit: Unit, node: int, logp: Callable[[int, int], float]) -> list[tuple[float, dict[str, Any]]]:
    """Every way to choose the ``slots`` (input, operation) pairs of a cell node, scored by ``logp(j, o)``.

    Inputs are distinct when there are enough of them (DARTS keeps the strongest distinct edges), else repeat.
    """
    slots, ops, label = unit.n_chosen, unit.values, unit.label
    combine = itertools.combinations if slots <= node else itertools.combinations_with_replacement
    out = []
    for inputs in combine(range(node), slots):
        for chosen in itertools.product(range(len(ops)), repeat=slots):
            score = sum(logp(j, o) for j, o in zip(inputs, chosen))
            sample: dict[str, Any] = {}
            for s, (j, o) in enumerate(zip(inputs, chosen)):
                sample[f"{label}/op_{node}_{s}"] = ops[o]
                sample[f"{label}/input_{node}_{s}"] = [j]
            out.append((score, sample))
    return out
