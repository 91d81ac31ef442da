"""Segmentation transforms in torch: normalise, resize, random scale, crop with ignore padding, flip.

An image and its label always move together: the image is resized bilinearly, the label by nearest neighbour,
and padding gives the image the mean colour (0 after normalisation) and the label the ignore index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gasnas_plugins.datasets.options import AugmentOptions

__all__ = ["AugmentedCrop", "SegmentationTransform", "to_tensors", "resize_pair", "random_scale", "random_crop", "random_flip"]


def to_tensors(image: np.ndarray, label: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> tuple[Tensor, Tensor]:
    """``H x W x 3`` uint8 and ``H x W`` ids -> a normalised float ``3 x H x W`` and a long ``H x W``."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
    x = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    return x, torch.from_numpy(np.ascontiguousarray(label)).long()


def resize_pair(image: Tensor, label: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Resize to ``size`` (height, width): bilinear (antialiased when shrinking) image, nearest label."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image, label
    shrink = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    image = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=shrink)[0]
    label = F.interpolate(label[None, None].float(), size=size, mode="nearest-exact")[0, 0].long()
    return image, label


def random_scale(image: Tensor, label: Tensor, scale: tuple[float, float]) -> tuple[Tensor, Tensor]:
    low, high = scale
    if low == high == 1.0:
        return image, label
    s = low + (high - low) * float(torch.rand(()))
    height, width = image.shape[-2:]
    return resize_pair(image, label, (max(1, round(height * s)), max(1, round(width * s))))


def random_crop(image: Tensor, label: Tensor, crop: tuple[int, int], ignore_index: int) -> tuple[Tensor, Tensor]:
    """A random ``crop`` window; where the image is smaller it is padded (image 0, label ignore) first."""
    ch, cw = crop
    height, width = image.shape[-2:]
    pad_h, pad_w = max(ch - height, 0), max(cw - width, 0)
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), value=0.0)
        label = F.pad(label, (0, pad_w, 0, pad_h), value=ignore_index)
        height, width = image.shape[-2:]
    top = int(torch.randint(0, height - ch + 1, ()))
    left = int(torch.randint(0, width - cw + 1, ()))
    return image[:, top:top + ch, left:left + cw], label[top:top + ch, left:left + cw]


def random_flip(image: Tensor, label: Tensor) -> tuple[Tensor, Tensor]:
    if float(torch.rand(())) < 0.5:
        return image.flip(-1), label.flip(-1)
    return image, label


class AugmentedCrop:
    """A dataset's ``train_crop`` and ``train_scale`` (what the data check compares with the images), read from
    its ``options.augment``."""

    @property
    def train_crop(self) -> tuple[int, int] | None:
        crop = self.options.augment.crop
        return None if crop is None else tuple(crop)

    @property
    def train_scale(self) -> tuple[float, float]:
        return tuple(self.options.augment.scale)


class SegmentationTransform:
    """What a split applies to each ``(image, label)``: the evaluation path resizes to ``size`` and normalises;
    the training path then scales, crops and flips at random (torch's RNG: seeded loaders replay it)."""

    def __init__(self, *, mean: Sequence[float], std: Sequence[float], ignore_index: int,
                 size: tuple[int, int] | None = None, augment: AugmentOptions | None = None) -> None:
        self.mean, self.std = tuple(mean), tuple(std)
        self.ignore_index = ignore_index
        self.size = size
        self.augment = augment

    def __call__(self, image: np.ndarray, label: np.ndarray) -> tuple[Tensor, Tensor]:
        x, y = to_tensors(image, label, self.mean, self.std)
        if self.size is not None:
            x, y = resize_pair(x, y, self.size)
        if self.augment is not None:
            crop = self.augment.crop or tuple(x.shape[-2:])  # null keeps the size: batches stay uniform
            x, y = random_scale(x, y, self.augment.scale)
            x, y = random_crop(x, y, crop, self.ignore_index)
            if self.augment.flip:
                x, y = random_flip(x, y)
        return x.contiguous(), y.contiguous()
