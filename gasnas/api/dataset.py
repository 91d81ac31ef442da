"""The dataset contract: splits of (image, label) pairs and what the labels mean."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

__all__ = ["SegmentationDataset", "ItemCheck", "class_weights"]


@dataclass(frozen=True)
class ItemCheck:
    """What the data check found in one item of a split (see :meth:`SegmentationDataset.check_items`)."""

    #: how messages name the item: its label file, or ``<split> item <index>``
    name: str
    #: (height, width) of the image as evaluation and training see it (after any resize); None when unreadable
    size: tuple[int, int] | None = None
    #: labelled pixels per class (int64, ``num_classes`` long); None when unreadable
    counts: torch.Tensor | None = None
    #: pixels of the label, the ignored ones included
    pixels: int = 0
    #: label values that are neither a class nor ignored (raw ids the dataset's table lacks)
    bad_ids: tuple[int, ...] = ()
    #: the label values allowed, for the message about ``bad_ids``
    expected: str = ""
    #: why the item cannot be used (a missing, unreadable or truncated file, an image and label of other sizes)
    error: str | None = None


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

    @property
    def train_crop(self) -> tuple[int, int] | None:
        """(height, width) of the random crops training takes, padded with the ignore index where the scaled
        image is smaller; None when training sees whole images. The data check warns when it is larger than the
        images."""
        return None

    @property
    def train_scale(self) -> tuple[float, float]:
        """The range of the random scale applied before the crop; (1, 1) when there is none."""
        return (1.0, 1.0)

    def check_items(self, split: str, indices: Sequence[int]) -> Iterator[ItemCheck]:
        """One :class:`ItemCheck` per index of ``split``, for the data check (``gasnas data check`` and the
        start-up check of searches and trainings); ``split`` exists (the check asked :meth:`split` first).

        The default reads each item as evaluation does: an item's :class:`~gasnas.errors.DataError` becomes its
        ``error``, label values outside ``[0, num_classes)`` and the ignore index its ``bad_ids``. A dataset that
        can check better overrides it: raw label ids against its own table, labels read without decoding images,
        sizes from image headers."""
        from gasnas.errors import DataError

        data = self.split(split, train=False)
        expected = f"0..{self.num_classes - 1} (classes) or {self.ignore_index} (ignored)"
        for index in indices:
            name = f"{split} item {index}"
            try:
                image, label = data[index]
            except DataError as exc:
                yield ItemCheck(name, error=str(exc))
                continue
            size = tuple(image.shape[-2:])
            if tuple(label.shape) != size:
                yield ItemCheck(name, error=f"{name}: label is {' x '.join(map(str, label.shape))} but its image is "
                                            f"{size[0]} x {size[1]}; an image and its label must have the same size")
                continue
            known = (label >= 0) & (label < self.num_classes)
            bad = label[~known & (label != self.ignore_index)].unique()
            counts = torch.bincount(label[known].flatten(), minlength=self.num_classes)
            yield ItemCheck(name, size, counts, label.numel(), tuple(int(v) for v in bad), expected)

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
