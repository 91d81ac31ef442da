"""The dataset contract: splits of (image, label) pairs and what the labels mean."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch.utils.data import Dataset

__all__ = ["SegmentationDataset"]


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

    def denormalize(self, image: torch.Tensor) -> torch.Tensor:
        """A normalised ``3 x H x W`` image back to ``H x W x 3`` uint8, for pictures."""
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return ((image.cpu() * std + mean).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)
