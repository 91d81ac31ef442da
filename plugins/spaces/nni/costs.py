"""Describing an NNI space's networks as blocks, for block-table latency estimators (``lut``, ``flops``).

An NNI space has no hand-written block list, so the description is measured from the network itself:

    cost(sample) = cost(reference network)  -  sum over choices of cost(reference candidate)
                                            +  sum over choices of cost(chosen candidate)

The reference network is the default sample with every channel choice at its widest (the shapes the supernet
runs at); it is one block, timed (or counted) whole. Each relaxed choice -- a ``LayerChoice``, a ``Cell``
edge, a ``Repeat`` depth, a channel choice of a Mutable layer -- contributes its candidates, each a block
made by freezing the candidate and timed at the input shape it receives in the network (found with forward
hooks on one pass of the supernet). Without a sample the chosen cost becomes the expectation under the
relaxed weights, which is what the differentiable strategy's latency term needs.

Ours, and approximate: in the expectation, a choice nested inside another choice's candidate adds its
difference from the reference weighted by the probability, under uniform weights, that the enclosing candidate
is chosen (the expectation is linear in each choice's weights, so it cannot hold their product); a ``Repeat``
whose depth combines several labels, and shape-agnostic layers downstream of a channel choice, are costed at
the reference; a layer whose input and output widths are different labels varies with its output label (the
other at the reference). With ``flops`` and ``LayerChoice``/``Cell``/``Repeat`` choices the sum is exact:
MACs add up.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gasnas.api import LatencyError
from gasnas.api.space import Block, CostTerm
from gasnas_plugins.spaces.nni.mixed import MaskedLayer, MixedCell, MixedLayer, MixedRepeat
from gasnas_plugins.spaces.nni.relax import Site

if TYPE_CHECKING:
    from gasnas_plugins.spaces.nni.adapter import NniSearchSpace

__all__ = ["NetworkCosts"]

Blocks = tuple[Block, ...]


def _digest(obj: Any) -> str:
    return hashlib.sha1(obj.encode() if isinstance(obj, str) else repr(obj).encode()).hexdigest()[:12]


def _block(module: nn.Module, shapes: tuple[tuple[int, ...], ...]) -> Block:
    """A block that builds a copy of ``module`` (a plain, frozen module)."""
    return Block(f"nni.{type(module).__name__}:{_digest(repr(module))}", shapes,
                 lambda m=module: copy.deepcopy(m))


class NetworkCosts:
    """The blocks of one NNI space at one input shape, captured once and reused for every sample."""

    def __init__(self, space: NniSearchSpace, input_shape: tuple[int, ...], num_classes: int) -> None:
        from nni.nas.nn.pytorch.base import recursive_freeze

        self._freeze = recursive_freeze
        self.space = space
        supernet = space.build_supernet(num_classes, keep_originals=True).eval()
        self.sites: list[Site] = supernet.sites
        self.shapes = self._capture(supernet, input_shape)
        self.reference = space.default_sample()
        for site in self.sites:
            if site.kind == "width":
                for value_site in site.info["sites"].values():
                    for label, leaf in value_site.leaves.items():
                        self.reference[label] = max(leaf.values)
        network = space.build(self.reference, num_classes)  # its structure keys the table: edits re-measure it
        self.whole = Block(f"nni.network:{space.fingerprint()}:{_digest(repr(network))}"
                           f":{_digest(json.dumps(self.reference, sort_keys=True))}:classes={num_classes}",
                           (tuple(input_shape),), lambda: space.build(self.reference, num_classes))
        self.children: dict[tuple[int, int], list[Site]] = {}
        for site in self.sites:
            if site.parent is not None:
                self.children.setdefault((id(site.parent[0]), site.parent[1]), []).append(site)
        self._blocks: dict[tuple[int, Any], Blocks] = {}

    # -- capture -------------------------------------------------------------------------------------------------

    @staticmethod
    def _capture(supernet: nn.Module, input_shape: tuple[int, ...]) -> dict[int, Any]:
        """Input shapes of every relaxed module (and Repeat block) in one pass with every candidate active."""
        shapes: dict[int, Any] = {}
        hooks = []

        def record(module, args):
            shapes[id(module)] = tuple(tuple(a.shape) if isinstance(a, torch.Tensor) else None for a in args)

        for module in supernet.modules():
            if isinstance(module, (MixedLayer, MaskedLayer)):
                hooks.append(module.register_forward_pre_hook(record))
            elif isinstance(module, MixedRepeat):
                hooks += [block.register_forward_pre_hook(record) for block in module.blocks]
            elif isinstance(module, MixedCell):
                module.recorded_shapes = []
        uniform = {c.key: torch.full((len(c.candidates),), 1.0 / len(c.candidates)) for c in supernet.relaxed_choices()}
        try:
            with torch.no_grad():
                supernet(torch.zeros(input_shape), uniform)
        finally:
            for hook in hooks:
                hook.remove()
        for module in supernet.modules():
            if isinstance(module, MixedCell):
                shapes[id(module)] = module.recorded_shapes
                module.recorded_shapes = None
        return shapes

    def _inputs(self, module: nn.Module, what: str) -> tuple[tuple[int, ...], ...]:
        shapes = self.shapes.get(id(module))
        if shapes is None:
            raise LatencyError(f"{what} did not run in the supernet's forward pass, so its input shape is unknown")
        if any(s is None for s in shapes):
            raise LatencyError(f"{what} is called with non-tensor arguments; block-table estimators cannot time its "
                               "candidates on their own: use a whole-network estimator (onnxruntime, torch)")
        return shapes

    # -- candidates ----------------------------------------------------------------------------------------------

    def _frozen(self, module: nn.Module, sample: Mapping[str, Any]) -> nn.Module:
        return self._freeze(copy.deepcopy(module), dict(sample))[0]

    def values(self, site: Site) -> list[Any]:
        """The candidates a site's relaxed key weighs: names, ops, depths or widths, in the key's order."""
        if site.kind in ("layer", "edge"):
            return list(range(len(site.originals)))
        return list(self._leaf(site).values)

    def _leaf(self, site: Site) -> Any:
        value_sites = [site.info["depth"]] if site.kind == "repeat" else list(site.info["sites"].values())
        return next(vs.leaves[site.key] for vs in value_sites if site.key in vs.leaves)

    def blocks(self, site: Site, candidate: Any, sample: Mapping[str, Any] | None = None) -> Blocks:
        """The blocks of one candidate: a candidate index (layer, edge), or the key label's value (repeat,
        width); ``sample`` overrides the reference for the other labels a width or depth reads."""
        cache_key = (id(site), candidate, None if sample is None else json.dumps(dict(sample), sort_keys=True,
                                                                                    default=str))
        if cache_key in self._blocks:
            return self._blocks[cache_key]
        reference = self.reference
        if site.kind == "layer":
            out = (_block(self._frozen(site.originals[candidate], reference),
                          self._inputs(site.module, f"LayerChoice '{site.key}'")),)
        elif site.kind == "edge":
            states = self.shapes[id(site.module)]
            out = () if candidate >= len(site.originals) else (
                _block(self._frozen(site.originals[candidate], reference), (states[site.info["source"]],)),)
        elif site.kind == "repeat":
            values = {**reference, **(sample or {}), **({} if candidate is None else {site.key: candidate})}
            depth = site.info["depth"].value(values)
            out = tuple(_block(self._frozen(site.originals[i], reference),
                               self._inputs(site.module.blocks[i], f"Repeat '{site.key}' block {i}"))
                        for i in range(depth))
        else:
            out = (self._width_block(site, {**reference, **(sample or {}), site.key: candidate}),)
        self._blocks[cache_key] = out
        return out

    def _width_block(self, site: Site, values: Mapping[str, Any]) -> Block:
        info = site.info
        args = {k: (info["sites"][k].value(values) if k in info["sites"] else v) for k, v in info["args"].items()}
        layer = info["base"](**args)
        (shape,) = self._inputs(site.module, f"{info['base'].__name__} with channel choices")
        shape = list(shape)
        if info["in_arg"] is not None:
            shape[info["dim"]] = args[info["in_arg"]]
        elif info["out_arg"] == "num_features":  # a norm layer sees as many channels as it normalises
            shape[info["dim"]] = args["num_features"]
        return _block(layer, (tuple(shape),))

    def chosen(self, site: Site, sample: Mapping[str, Any]) -> list[Any]:
        """The candidates ``sample`` uses at ``site`` (an edge may be used by several slots of its node)."""
        if site.kind == "layer":
            return [site.info["names"].index(sample[site.key])]
        if site.kind == "edge":
            cell, node, source = site.info["cell"], site.info["node"], site.info["source"]
            names = [str(n) for n in self._op_names(site)]
            return [names.index(str(sample[f"{cell}/op_{node}_{s}"])) for s in range(site.info["slots"])
                    if sample[f"{cell}/input_{node}_{s}"] == [source]]
        return [sample.get(site.key)]  # a depth combining several labels has no single key: None

    def _op_names(self, site: Site) -> list[str]:
        return site.module.op_names

    def reference_blocks(self, site: Site) -> Blocks:
        return tuple(b for c in self.chosen(site, self.reference) for b in self.blocks(site, c))

    # -- terms ---------------------------------------------------------------------------------------------------

    def _own(self, site: Site) -> float:
        """The share of a site a derivation keeps: ``slots / inputs`` for a cell edge, 1 otherwise."""
        return site.info["slots"] / site.info["node"] if site.kind == "edge" else 1.0

    def _prior(self, site: Site) -> float:
        """The probability that a nested site is in the network when every choice is uniform."""
        if site.parent is None:
            return 1.0
        parent, index = site.parent
        if parent.kind == "repeat":
            depths = [value for value, _ in parent.info["depth"].assignments]
            share = sum(d > index for d in depths) / len(depths)
        else:
            share = self._own(parent) / len(parent.originals)
        return self._prior(parent) * share

    def _relaxable(self, site: Site) -> bool:
        """A site has a relaxed term when one label weighs its candidates."""
        return site.kind != "repeat" or len(site.info["depth"].labels) == 1

    def _rest(self, sites: list[Site]) -> list[CostTerm]:
        reference = tuple(b for s in sites for b in self.reference_blocks(s))
        terms = [CostTerm("rest", ((self.whole,),))]
        if reference:
            terms.append(CostTerm("rest", (reference,), weight=-1.0))
        return terms

    def terms(self, sample: Mapping[str, Any] | None = None) -> list[CostTerm]:
        """Concrete terms for ``sample``; without one, the relaxed terms of every site: a site's candidates are
        costed with the choices nested in them at the reference, and a nested site adds its difference from
        the reference weighted by the probability that its enclosing candidate is chosen under uniform weights
        (an expectation over independent choices cannot hold the product of two probabilities)."""
        top = [s for s in self.sites if s.parent is None]
        if sample is not None:
            terms = self._rest(top)
            for site in top:
                self._concrete(site, sample, terms)
            return terms
        terms = self._rest([s for s in top if self._relaxable(s)])
        for site in self.sites:
            if not self._relaxable(site):
                continue
            group, prior = site.key.split("/")[0], self._prior(site)
            candidates = self.values(site)
            zero = len(candidates) if site.kind == "edge" else None
            blocks = [self.blocks(site, c) for c in candidates] + ([()] if zero is not None else [])
            terms.append(CostTerm(group, tuple(blocks), site.key, weight=prior * self._own(site), zero=zero))
            reference = self.reference_blocks(site) if site.parent is not None else ()
            if reference:
                terms.append(CostTerm(group, (reference,), weight=-prior))
        return terms

    def _concrete(self, site: Site, sample: Mapping[str, Any], terms: list[CostTerm]) -> None:
        group = site.key.split("/")[0]
        for candidate in self.chosen(site, sample):
            blocks = self.blocks(site, candidate, sample if site.kind in ("repeat", "width") else None)
            terms.append(CostTerm(group, (blocks,)))
            for inner in self.nested_in_sample(site, candidate, sample):
                reference = self.reference_blocks(inner)
                if reference:
                    terms.append(CostTerm(group, (reference,), weight=-1.0))
                self._concrete(inner, sample, terms)

    def nested_in_sample(self, site: Site, candidate: Any, sample: Mapping[str, Any]) -> list[Site]:
        """Sites directly inside the chosen candidate (for a Repeat: inside the blocks its depth runs)."""
        if site.kind == "repeat":
            depth = site.info["depth"].value({**self.reference, **sample})
            return [s for i in range(depth) for s in self.children.get((id(site), i), [])]
        return self.children.get((id(site), candidate), [])
