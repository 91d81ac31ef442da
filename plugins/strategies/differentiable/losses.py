"""The latency term f(E[LAT]) of L = CE + beta * f(E[LAT]), and the multiplier of the constrained form.

Architecture steps run under Adam, which divides each parameter's step by the running size of its gradient: a
term whose gradient always points the same way (``linear``, ``log_ratio``) ends up moving the architecture at
full speed toward the fastest network whatever ``beta`` is, because the cross-entropy's gradient is mostly
noise. The target forms give the pull a sign that depends on where E[LAT] stands: ``hinge`` pulls only while
E > T, ``absolute`` toward T from both sides, and ``lagrangian`` treats E <= T as a constraint whose multiplier
grows while it is violated and shrinks (to 0) while it holds.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gasnas.api import ConfigError
from gasnas_plugins.strategies.differentiable import TARGET_LOSSES

__all__ = ["latency_term", "Multiplier"]


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
