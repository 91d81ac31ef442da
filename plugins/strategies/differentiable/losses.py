"""The latency term f(E[LAT]) of L = CE + beta * f(E[LAT])."""

from __future__ import annotations

import torch
from torch import Tensor

from gasnas.errors import ConfigError

__all__ = ["latency_term"]


def latency_term(kind: str, expected_ms: Tensor, target_ms: float | None, reference_ms: float) -> Tensor:
    """``linear``: E/ref; ``log_ratio``: log(E/target); ``hinge``: max(0, E - target)/target."""
    if kind == "linear":
        return expected_ms / (target_ms or reference_ms)
    if target_ms is None:
        raise ConfigError(f"strategy.params.latency_loss '{kind}' needs a latency target: set latency.target_ms")
    if kind == "log_ratio":
        return torch.log(expected_ms / target_ms)
    if kind == "hinge":
        return torch.relu(expected_ms - target_ms) / target_ms
    raise ConfigError(f"unknown latency_loss '{kind}'")
