"""The torch datasets behind ``split()``: pairs of files on disk, or arrays held in memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from torch import Tensor
from torch.utils.data import Dataset

from gasnas_plugins.datasets.files import LabelMap, check_same_size, read_image, read_label

__all__ = ["FileSplit", "ArraySplit"]

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
