"""The communicator contract: how cells' architecture parameters exchange information during search.

GAS's GCN-guided module is one: for cell ``k`` it reads the parameters of cells ``k-1`` and ``k`` and returns
``alpha'_k``. A communicator is an ``nn.Module``; its own parameters are trained with the architecture
parameters. It is used during search only; derived architectures do not contain it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from gasnas.api.space import RelaxedChoice

__all__ = ["Communicator", "cells_of"]


def cells_of(choices: Sequence[RelaxedChoice]) -> list[list[RelaxedChoice]]:
    """Group relaxed choices by their ``group`` (their cell), in order of first appearance."""
    groups: dict[str, list[RelaxedChoice]] = {}
    for choice in choices:
        groups.setdefault(choice.group, []).append(choice)
    return list(groups.values())


class Communicator(nn.Module, ABC):
    """Maps architecture logits ``{key: alpha}`` to communicated logits ``{key: alpha'}`` (same keys, shapes)."""

    def __init__(self, choices: Sequence[RelaxedChoice]) -> None:
        super().__init__()
        self.choices = tuple(choices)

    @abstractmethod
    def forward(self, alphas: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """alpha' for every key of ``alphas``; must be differentiable in ``alphas`` and in its own parameters."""
