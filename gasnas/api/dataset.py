"""The dataset contract: splits of (image, label) pairs and what the labels mean."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

__all__ = ["SegmentationDataset", "class_weights"]


class SegmentationDataset(ABC):
    """A semantic segmentation dataset.

    ``split(name, train=...)`` gives a :class:`torch.utils.data.Dataset` whose items are ``(image, label)``:
    ``image`` a float tensor ``3 x H x W`` normalised with :attr:`mean` / :attr:`std`, ``label`` a long tensor
    ``H x W`` of class indices in ``[0, num_classes)`` or :attr:`ignore_index`. ``train=True`` applies the
    training augmentation.
    """

    #: number of classes scored (ignore excluded)
    num_classes: int
    #: label value that is neither trained nor scored
    ignore_index: int = 255
    #: one name per class
    class_names: tuple[str, ...] = ()
    #: one RGB colour per class, for pictures
    palette: tuple[tuple[int, int, int], ...] = ()
    #: the splits that exist, e.g. ("train", "val", "test")
    splits: tuple[str, ...] = ("train", "val")
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @property
    @abstractmethod
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the images a deployed network sees: latency and export use it."""

    @abstractmethod
    def split(self, name: str, *, train: bool = False) -> Dataset:
        """The split ``name``; raise :class:`~gasnas.errors.DataError` naming what is missing."""

    def class_counts(self, split: str = "train") -> torch.Tensor:
        """Labelled pixels per class in ``split`` (int64, ``num_classes`` long; the ignore index not counted), as
        evaluation sees the labels (no augmentation). The default reads every item; datasets holding their
        labels in memory, or able to read labels without images, override it."""
        counts = torch.zeros(self.num_classes, dtype=torch.int64)
        for _, label in self.split(split, train=False):
            label = label[label != self.ignore_index]
            counts += torch.bincount(label.flatten(), minlength=self.num_classes)[:self.num_classes]
        return counts

    def denormalize(self, image: torch.Tensor) -> torch.Tensor:
        """A normalised ``3 x H x W`` image back to ``H x W x 3`` uint8, for pictures."""
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return ((image.cpu() * std + mean).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)


def class_weights(counts: Sequence[int] | torch.Tensor, power: float) -> torch.Tensor | None:
    """Cross-entropy class weights ``w_c = f_c ** -power`` from pixel counts, scaled so that the mean weight of a
    labelled pixel is 1 (the loss keeps its scale); ``None`` when ``power`` is 0 (plain cross-entropy).

    ``power`` 0.5 (inverse square root of the frequency) lifts rare classes without letting a few pixels of one
    dominate; 1 is the inverse frequency. A class that never occurs gets the largest weight of the others."""
    if power == 0:
        return None
    counts = torch.as_tensor(counts, dtype=torch.float64)
    total = float(counts.sum())
    if total <= 0:
        raise ValueError("no labelled pixel to count class frequencies from")
    freq = counts / total
    present = freq > 0
    weights = torch.zeros_like(freq)
    weights[present] = freq[present] ** -power
    weights /= float((freq * weights).sum())
    if not bool(present.all()):
        weights[~present] = float(weights[present].max())
    if not all(math.isfinite(float(w)) for w in weights):
        raise ValueError(f"class weights are not finite: {weights.tolist()}")
    return weights.float()
