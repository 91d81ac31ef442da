"""The ``segmentation`` evaluator: a confusion matrix accumulated on the device, and the scores read from it.

Rows of the matrix are true classes, columns predicted ones. IoU of class c is ``tp / (tp + fp + fn)``; a class
that is neither present nor predicted has no IoU and is left out of the mean (mIoU), as in the Cityscapes
scripts. Flip and multi-scale evaluation average softmax probabilities over the mirrored / rescaled inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api import DataError
from gasnas.api.dataset import SegmentationDataset
from gasnas.api.evaluator import EvaluationResult, Evaluator
from gasnas.api.model import as_output, resize_to
from gasnas_plugins.evaluators.options import SegmentationOptions

__all__ = ["ConfusionMatrix", "SegmentationEvaluator", "scores"]

Forward = Callable[[Tensor], object]


class ConfusionMatrix:
    """``num_classes x num_classes`` counts (true x predicted) kept on ``device``; ``ignore_index`` is skipped."""

    def __init__(self, num_classes: int, ignore_index: int, device: torch.device | str = "cpu") -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, pred: Tensor, label: Tensor) -> None:
        """Add ``pred`` against ``label`` (same shape, class indices); labels outside the classes are an error."""
        label = label.to(self.matrix.device)
        pred = pred.to(self.matrix.device)
        keep = label != self.ignore_index
        truth = label[keep].long()
        if truth.numel() and (truth.min() < 0 or truth.max() >= self.num_classes):
            bad = torch.unique(truth[(truth < 0) | (truth >= self.num_classes)])[:8].tolist()
            raise DataError(f"label values {bad} are outside the {self.num_classes} classes and are not the ignore "
                            f"index {self.ignore_index}; check the dataset's label mapping")
        index = truth * self.num_classes + pred[keep].long()
        self.matrix += torch.bincount(index, minlength=self.num_classes ** 2).view(self.num_classes, -1)

    def scores(self) -> dict[str, Tensor | float]:
        return scores(self.matrix)


def scores(matrix: Tensor) -> dict[str, Tensor | float]:
    """``miou``, ``pixel_acc``, ``mean_acc`` (floats) and ``iou`` (per class, NaN where undefined)."""
    m = matrix.double().cpu()
    tp = m.diag()
    truth, predicted = m.sum(1), m.sum(0)
    union = truth + predicted - tp
    iou = torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))
    acc = torch.where(truth > 0, tp / truth.clamp_min(1), torch.full_like(tp, float("nan")))
    total = float(m.sum())
    return {
        "miou": float(iou.nanmean()) if (union > 0).any() else 0.0,
        "pixel_acc": float(tp.sum()) / total if total else 0.0,
        "mean_acc": float(acc.nanmean()) if (truth > 0).any() else 0.0,
        "iou": iou,
    }


class SegmentationEvaluator(Evaluator):
    """mIoU (primary), per-class IoU, pixel and mean class accuracy; flip and multi-scale when asked."""

    primary_metric = "miou"

    def __init__(self, options: SegmentationOptions | None = None) -> None:
        self.options = options or SegmentationOptions()

    def predict(self, forward: Forward, images: Tensor, size: Sequence[int] | None = None) -> Tensor:
        """Class scores ``N x C x H x W`` at ``size`` (default: the images' size): logits for a single pass,
        averaged probabilities under flip / multi-scale."""
        size = tuple(size or images.shape[-2:])
        passes = [(s, flip) for s in self.options.scales for flip in ((False, True) if self.options.flip else (False,))]
        total = None
        for scale, flip in passes:
            x = images
            if scale != 1.0:
                x = F.interpolate(images, scale_factor=scale, mode="bilinear", align_corners=False)
            if flip:
                x = x.flip(-1)
            out = as_output(forward(x)).logits
            if flip:
                out = out.flip(-1)
            out = resize_to(out.float(), size)
            if len(passes) == 1:
                return out
            prob = out.softmax(1)
            total = prob if total is None else total + prob
        return total / len(passes)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], *,
                 dataset: SegmentationDataset, device: torch.device | str = "cpu",
                 forward: Forward | None = None) -> EvaluationResult:
        model.eval()
        forward = forward or model
        ignore = self.options.ignore_index if self.options.ignore_index is not None else dataset.ignore_index
        confusion = ConfusionMatrix(dataset.num_classes, ignore, device)
        for images, labels in batches:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            confusion.update(self.predict(forward, images, labels.shape[-2:]).argmax(1), labels)
        result = confusion.scores()
        names = list(dataset.class_names) or [str(c) for c in range(dataset.num_classes)]
        per_class = {name: float(v) for name, v in zip(names, result.pop("iou").tolist())}
        return EvaluationResult({k: float(v) for k, v in result.items()}, per_class, confusion.matrix.cpu())
