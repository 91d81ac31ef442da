"""The latency term f(E[LAT]) of L = CE + beta * f(E[LAT]), and the multiplier of the constrained form.

Architecture steps run under Adam, which divides each parameter's step by the running size of its gradient: a
term whose gradient always points the same way (``linear``, ``log_ratio``) ends up moving the architecture at
full speed toward the fastest network whatever ``beta`` is, because the cross-entropy's gradient is mostly
noise. The target forms give the pull a sign that depends on where E[LAT] stands: ``hinge`` pulls only while
E > T, ``absolute`` toward T from both sides, and ``lagrangian`` treats E <= T as a constraint whose multiplier
grows while it is violated and shrinks (to 0) while it holds.

The decoupled form (FasterSeg) computes E[LAT] once per decision granularity of the space's choices -- operations,
paths, widths -- each relaxing only the choices of its granularity while the others are held constant, and puts
``sum_g w_g E_g`` in f. Each granularity's choices then get the latency gradient of their own term only, scaled by
its weight: FasterSeg gives the paths 497/500 of it, against the collapse to cheap operations that one coupled
term causes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from gasnas.api import ConfigError
from gasnas.api.space import RelaxedChoice, SearchSpace
from gasnas_plugins.strategies.differentiable import TARGET_LOSSES

__all__ = ["latency_term", "Multiplier", "Decoupled"]


def latency_term(kind: str, expected: Tensor, target: float | None, reference: float) -> Tensor:
    """f(E): ``linear`` E/ref; ``log_ratio`` log(E/T); ``hinge`` max(0, E/T - 1); ``absolute`` |E/T - 1|;
    ``lagrangian`` E/T - 1 (scaled by :class:`Multiplier`'s lambda instead of beta)."""
    if kind == "linear":
        return expected / (target or reference)
    if target is None:
        raise ConfigError(f"strategy.params.latency_loss '{kind}' needs a latency target: set latency.target "
                          "or latency.target_relative")
    ratio = expected / target
    if kind == "log_ratio":
        return torch.log(ratio)
    if kind == "hinge":
        return torch.relu(ratio - 1)
    if kind == "absolute":
        return (ratio - 1).abs()
    if kind == "lagrangian":
        return ratio - 1
    raise ConfigError(f"unknown latency_loss '{kind}'; one of linear, {', '.join(TARGET_LOSSES)}")


class Multiplier:
    """lambda >= 0 of the constraint E[LAT] <= T: after each step lambda += rate * (E/T - 1), floored at 0."""

    def __init__(self, start: float, rate: float) -> None:
        self.value = float(start)
        self.rate = float(rate)

    def update(self, violation: float) -> None:
        self.value = max(0.0, self.value + self.rate * violation)

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = float(state["value"])


class Decoupled:
    """``sum_g w_g E[LAT](probs relaxed in granularity g, the rest held)``; the weights sum to 1.

    A held choice is a constant (no gradient): at the candidate its :class:`~gasnas.api.space.RelaxedChoice`
    declares (``held``), else uniform or at its current argmax (``hold``)."""

    def __init__(self, choices: Sequence[RelaxedChoice], weights: Mapping[str, float], hold: str = "uniform") -> None:
        self.choices = list(choices)
        total = sum(weights.values())
        self.weights = {g: w / total for g, w in weights.items() if w > 0}
        self.hold = hold

    @classmethod
    def of(cls, options, space: SearchSpace, choices: Sequence[RelaxedChoice]) -> Decoupled:
        """From the strategy's options: their ``latency_weights``, else the space's, else equal weights; every
        granularity the supernet's choices have needs one (a clear error names what is missing)."""
        # edge-normalisation choices weight a node's edges: no cost term reads them, so they get no latency term
        present = list(dict.fromkeys(c.granularity for c in choices if c.granularity != "edge"))
        given = options.latency_weights
        weights = dict(given) if given is not None else dict(space.latency_weights())
        if not weights:
            weights = dict.fromkeys(present, 1.0)
        where = "strategy.params.latency_weights" if given is not None else f"{type(space).__name__}.latency_weights()"
        missing = [g for g in present if g not in weights]
        unknown = [g for g in weights if g not in present]
        if missing or (unknown and given is not None):
            raise ConfigError(f"{where}: the space's relaxed choices have the granularities {', '.join(present)}; "
                              + (f"no weight for {', '.join(missing)} (give one; 0 leaves it without a latency "
                                 "term)" if missing else f"{', '.join(unknown)} is none of them"))
        weights = {g: float(weights[g]) for g in present}
        if not sum(weights.values()) > 0:
            raise ConfigError(f"{where}: the weights of {', '.join(present)} are all 0")
        return cls(choices, weights, options.latency_hold)

    def held(self, probs: Mapping[str, Tensor], granularity: str) -> dict[str, Tensor]:
        """``probs`` with every choice of another granularity replaced by its held constant."""
        out = {}
        for c in self.choices:
            p = probs[c.key]
            if c.granularity == granularity:
                out[c.key] = p
            elif c.held is not None:
                out[c.key] = torch.nn.functional.one_hot(torch.tensor(c.held, device=p.device), len(p)).to(p.dtype)
            elif self.hold == "argmax":
                out[c.key] = torch.nn.functional.one_hot(p.detach().argmax(), len(p)).to(p.dtype)
            else:
                out[c.key] = torch.full_like(p, 1.0 / len(p)).detach()
        return out

    def __call__(self, expected: Callable[[Mapping[str, Tensor]], Tensor], probs: Mapping[str, Tensor]) -> Tensor:
        return sum(w * expected(self.held(probs, g)) for g, w in self.weights.items())
