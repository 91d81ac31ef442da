"""The supernet of an NNI model space: the user's ``ModelSpace`` with its primitives relaxed (see ``relax``).

Relaxed choices are keyed by NNI labels (a ``LayerChoice``'s label, an ``nni.choice``'s label, ...) except
inside a ``Cell``, whose edges are keyed ``<cell>/edge_<node>_<input>``. ``derive`` turns probabilities
back into NNI samples -- cells included (``<cell>/op_<i>_<k>``, ``<cell>/input_<i>_<k>``) -- ranked exactly
by a k-best search over independent labels and cell nodes.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from gasnas.api.space import Factor, RelaxedChoice, Supernet, kbest, log_scores
from gasnas_plugins.spaces.nni.mixed import MixingState, edge_key
from gasnas_plugins.spaces.nni.relax import Relaxer, Unit, node_options

__all__ = ["NniSupernet"]


class NniSupernet(Supernet):
    """A relaxed NNI model space. ``forward(x, mixing)`` runs the user's ``forward`` with every primitive mixed."""

    def __init__(self, net: nn.Module, relaxer: Relaxer) -> None:
        super().__init__()
        self.net = net
        self._mixing: MixingState = relaxer.mixing
        self._choices: tuple[RelaxedChoice, ...] = tuple(relaxer.choices.values())
        self._units: tuple[Unit, ...] = tuple(relaxer.units.values())
        self.sites = relaxer.sites

    def relaxed_choices(self) -> Sequence[RelaxedChoice]:
        return self._choices

    def forward(self, x: Tensor, mixing: Mapping[str, Tensor]) -> Any:
        flags = (torch.cat([mixing[c.key].detach().reshape(-1) for c in self._choices]) != 0).tolist()  # one sync
        active, start = {}, 0
        for c in self._choices:
            active[c.key] = [i for i in range(len(c.candidates)) if flags[start + i]]
            start += len(c.candidates)
        self._mixing.weights, self._mixing.active = mixing, active
        try:
            return self.net(x)
        finally:
            self._mixing.weights = self._mixing.active = None

    # -- derivation ----------------------------------------------------------------------------------------------

    def _factors(self, logp: Mapping[str, Tensor]) -> list[Factor]:
        factors = []
        for unit in self._units:
            lp = logp[unit.label] if unit.kind != "cell" else None
            if unit.kind == "one":
                factors.append(Factor(tuple((float(lp[i]), {unit.label: v}) for i, v in enumerate(unit.values))))
            elif unit.kind == "multi":
                factors.append(Factor(tuple((float(sum(lp[i] for i in chosen)), {unit.label: list(chosen)})
                                            for chosen in itertools.combinations(unit.values, unit.n_chosen))))
            else:
                for node in unit.cell["nodes"]:
                    edges = [logp[edge_key(unit.label, node, j)] for j in range(node)]
                    factors.append(Factor(tuple(node_options(unit, node, lambda j, o: float(edges[j][o])))))
        return factors

    def derive(self, probs: Mapping[str, Tensor], top_k: int = 1) -> list[tuple[dict[str, Any], float]]:
        """The ``top_k`` NNI samples with the highest summed log-probabilities, best first. A cell node keeps
        its strongest (input, operation) pairs, with distinct inputs (DARTS); "no edge" is never chosen."""
        logp = log_scores(probs)
        return [(sample, score) for score, sample in kbest(self._factors(logp), top_k)]

    def mixing_for(self, sample: Mapping[str, Any]) -> dict[str, Tensor]:
        """One-hot (multi-hot for input choices) weights under which the supernet computes ``freeze(sample)``."""
        device = next(self.parameters()).device
        mixing = {c.key: torch.zeros(len(c.candidates), device=device) for c in self._choices}
        for unit in self._units:
            if unit.kind == "one":
                value = sample.get(unit.label, unit.values[0])
                mixing[unit.label][list(unit.values).index(value)] = 1.0
            elif unit.kind == "multi":
                for j in sample.get(unit.label, list(unit.values[:unit.n_chosen])):
                    mixing[unit.label][j] = 1.0
            else:
                for node in unit.cell["nodes"]:
                    for j in range(node):
                        mixing[edge_key(unit.label, node, j)][-1] = 1.0  # "no edge" unless a slot uses it
                    for s in range(unit.n_chosen):
                        (j,) = sample.get(f"{unit.label}/input_{node}_{s}", [0])
                        w = mixing[edge_key(unit.label, node, j)]
                        w[-1] = 0.0
                        w[list(unit.values).index(sample.get(f"{unit.label}/op_{node}_{s}", unit.values[0]))] += 1.0
        return mixing
