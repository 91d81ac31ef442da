"""The evaluator contract: score a network on data. An evaluator never times anything.

:func:`background_score` is the score a network that learned nothing but the class prior gets: a result not
clearly above it (:data:`BACKGROUND_MARGIN`) is flagged at the end of a search or a training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from gasnas.api.dataset import SegmentationDataset

__all__ = ["EvaluationResult", "Evaluator", "background_score", "BACKGROUND_MARGIN"]

#: how far above :func:`background_score` (in the metric's unit) a val score must be to count as learned
BACKGROUND_MARGIN = 0.02
#: pixels of the labels :func:`background_score` lays out with a split's class frequencies (256 x 256)
BACKGROUND_SIDE = 256


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


def background_score(evaluator: Evaluator, dataset: SegmentationDataset, split: str = "val") -> float:
    """The evaluator's primary metric for a network that predicts ``split``'s most frequent class everywhere
    (the background, in street scenes): what a network that learned nothing but the class prior scores.

    Computed from ``dataset.class_counts(split)`` for any dataset: one label image laid out with the split's
    class frequencies (each class present keeps at least one pixel), scored by the evaluator itself against a
    constant prediction -- so its own rules apply (e.g. classes absent from the split left out of the mean),
    exactly for every metric read from a confusion matrix (mIoU, pixel accuracy)."""
    counts = torch.as_tensor(dataset.class_counts(split), dtype=torch.float64)
    if float(counts.sum()) <= 0:
        from gasnas.errors import DataError

        raise DataError(f"split '{split}' has no labelled pixel: nothing to score against")
    side = BACKGROUND_SIDE
    pixels = (counts / counts.sum() * side * side).floor().long()
    pixels[(counts > 0) & (pixels == 0)] = 1
    majority = int(counts.argmax())
    pixels[majority] += side * side - int(pixels.sum())
    labels = torch.repeat_interleave(torch.arange(len(counts)), pixels).view(1, side, side)
    images = torch.zeros(1, 3, side, side)

    def constant(x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], dataset.num_classes, *x.shape[-2:])
        logits[:, majority] = 1.0
        return logits

    result = evaluator.evaluate(nn.Identity(), [(images, labels)], dataset=dataset, forward=constant)
    return float(result.metrics[evaluator.primary_metric])
