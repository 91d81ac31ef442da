"""The evaluator contract: score a network on data. An evaluator never times anything."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from gasnas.api.dataset import SegmentationDataset

__all__ = ["EvaluationResult", "Evaluator"]


@dataclass
class EvaluationResult:
    """Scalar metrics (including the primary one), per-class scores and, where it applies, the confusion matrix."""

    metrics: dict[str, float]
    per_class: dict[str, float] = field(default_factory=dict)
    confusion: torch.Tensor | None = None


class Evaluator(ABC):
    """Scores segmentation networks; :attr:`primary_metric` is what searches maximise."""

    primary_metric: str = "miou"

    @abstractmethod
    def evaluate(self, model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *,
                 dataset: SegmentationDataset, device: torch.device | str = "cpu",
                 forward=None) -> EvaluationResult:
        """Score ``model`` on ``batches`` of ``(images, labels)``.

        ``forward(images) -> logits`` replaces ``model(images)`` when given (a supernet evaluated with fixed
        mixing weights, for instance). The model is put in eval mode and no gradients are kept.
        """
