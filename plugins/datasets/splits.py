"""The torch datasets behind ``split()``: pairs of files on disk, or arrays held in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from gasnas.api import DataError, ItemCheck
from gasnas.api.dataset import SegmentationDataset
from gasnas_plugins.datasets.files import LabelMap, check_same_size, read_image, read_label, verify_image
from gasnas_plugins.datasets.transforms import AugmentedCrop, SegmentationTransform

__all__ = ["FileSplit", "ArraySplit", "FolderDataset"]

Transform = Callable[[np.ndarray, np.ndarray], tuple[Tensor, Tensor]]


class FileSplit(Dataset):
    """``(image, label)`` file pairs, read, checked and mapped to training ids on access."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]], label_map: LabelMap, transform: Transform) -> None:
        self.pairs = list(pairs)
        self.label_map = label_map
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image_path, label_path = self.pairs[index]
        image = read_image(image_path)
        raw = read_label(label_path)
        check_same_size(image, raw, image_path, label_path)
        return self.transform(image, self.label_map(raw, label_path))


class ArraySplit(Dataset):
    """Images ``N x H x W x 3`` uint8 and labels ``N x H x W`` held in memory."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Transform) -> None:
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.transform(self.images[index], self.labels[index])


class FolderDataset(AugmentedCrop, SegmentationDataset):
    """A dataset of ``(image, label)`` files in an official layout: each split found and checked once.

    Subclasses set ``name``, ``splits``, ``options`` (with ``size`` and ``augment``) and ``_label_map``, and find
    a split's files in :meth:`find_pairs`.
    """

    name = ""
    _label_map: LabelMap

    def find_pairs(self, split: str) -> list[tuple[Path, Path]]:
        raise NotImplementedError

    def pairs(self, split: str) -> list[tuple[Path, Path]]:
        """The checked ``(image, label)`` files of ``split``."""
        if split not in self.splits:
            raise DataError(f"{self.name} has no split '{split}'; the splits are {', '.join(self.splits)}")
        found = self.__dict__.setdefault("_pairs", {})
        if split not in found:
            found[split] = self.find_pairs(split)
        return found[split]

    def class_counts(self, split: str = "train", max_files: int = 500) -> torch.Tensor:
        """Labelled pixels per class over at most ``max_files`` label files of ``split``, evenly spaced through
        it (labels only: no image is decoded); enough to weigh a loss by, in seconds even for Cityscapes."""
        pairs = self.pairs(split)
        step = max(1, -(-len(pairs) // max_files))
        counts = np.zeros(self.num_classes, dtype=np.int64)
        for _, label_path in pairs[::step]:
            label = self._label_map(read_label(label_path), label_path)
            label = label[label != self.ignore_index]
            counts += np.bincount(label.ravel(), minlength=self.num_classes)[:self.num_classes]
        return torch.from_numpy(counts)

    def check_items(self, split: str, indices: Sequence[int]) -> Iterator[ItemCheck]:
        """Each label file read and its raw ids checked against the dataset's table (every bad id named, not only
        the first file's), each image checked whole without decoding its pixels; pixels are counted at the
        files' resolution."""
        pairs = self.pairs(split)
        for index in indices:
            image_path, label_path = pairs[index]
            try:
                height, width = verify_image(image_path)
                raw = read_label(label_path)
                check_same_size((height, width), raw, image_path, label_path)
            except DataError as exc:
                yield ItemCheck(str(label_path), error=str(exc))
                continue
            mapped, bad = self._label_map.lenient(raw)
            known = mapped[(mapped >= 0) & (mapped < self.num_classes)]
            counts = torch.from_numpy(np.bincount(known.ravel(), minlength=self.num_classes)[:self.num_classes])
            size = tuple(self.options.size) if self.options.size is not None else (height, width)
            yield ItemCheck(str(label_path), size, counts.long(), int(raw.size), tuple(int(v) for v in bad),
                            self._label_map.expected)

    def split(self, name: str, *, train: bool = False) -> Dataset:
        transform = SegmentationTransform(mean=self.mean, std=self.std, ignore_index=self.ignore_index,
                                          size=self.options.size, augment=self.options.augment if train else None)
        return FileSplit(self.pairs(name), self._label_map, transform)
