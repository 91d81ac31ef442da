"""Relaxing an NNI model space into a gasnas supernet: each NNI primitive becomes a mixed module (``mixed``).

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from gasnas.api import IncompatibleComponentsError
from gasnas.api.space import RelaxedChoice
from gasnas_plugins.nni_support import nas_nn, require
from gasnas_plugins.spaces.nni.mixed import (MaskedLayer, MixedCell, MixedInput, MixedLayer, MixedRepeat, MixingState,
                                             ValueSite, edge_key, group_of)

__all__ = ["Site", "Unit", "Relaxer", "node_options", "WIDTH_ARGS"]

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
            labels = sorted({str(m.label) for mut in module.mutables for m in mut.simplify().values()})
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
        label, names = str(choice.label), list(choice.names)
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
        label = str(choice.label)
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
        label = str(repeat.label) if repeat.label is not None else "+".join(depth.labels)
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

        label = str(cell.label)
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
