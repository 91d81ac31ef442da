"""Transforms move an image and its label together; padding uses the mean colour and the ignore label."""

from __future__ import annotations

import numpy as np
import torch

from gasnas_plugins.datasets.options import AugmentOptions
from gasnas_plugins.datasets.transforms import (SegmentationTransform, random_crop, random_flip, resize_pair,
                                                to_tensors)


def _pair(h: int = 8, w: int = 12):
    image = np.zeros((h, w, 3), np.uint8)
    image[:, : w // 2] = 255
    label = np.zeros((h, w), np.uint8)
    label[:, : w // 2] = 1
    return image, label


def test_to_tensors_normalises():
    image, label = _pair()
    x, y = to_tensors(image, label, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert x.shape == (3, 8, 12) and y.dtype == torch.int64
    assert x[:, :, 0].eq(1).all() and x[:, :, -1].eq(-1).all()


def test_resize_keeps_labels_as_class_ids():
    x, y = to_tensors(*_pair(), mean=(0, 0, 0), std=(1, 1, 1))
    x2, y2 = resize_pair(x, y, (16, 24))
    assert x2.shape == (3, 16, 24) and set(y2.unique().tolist()) == {0, 1}
    assert (y2[:, :12] == 1).all() and (y2[:, 12:] == 0).all()


def test_crop_larger_than_the_image_pads_with_ignore():
    x, y = to_tensors(*_pair(), mean=(0, 0, 0), std=(1, 1, 1))
    torch.manual_seed(0)
    xc, yc = random_crop(x, y, (10, 20), ignore_index=255)
    assert xc.shape == (3, 10, 20) and (yc[8:] == 255).all() and (yc[:, 12:] == 255).all()
    assert (xc[:, 8:] == 0).all()


def test_flip_moves_image_and_label_together():
    x, y = to_tensors(*_pair(), mean=(0, 0, 0), std=(1, 1, 1))
    seen = set()
    for seed in range(8):
        torch.manual_seed(seed)
        xf, yf = random_flip(x, y)
        assert torch.equal(xf[0] > 0.5, yf == 1)  # white pixels are always the class-1 pixels
        seen.add(bool(yf[0, 0] == 1))
    assert seen == {True, False}


def test_training_transform_is_reproducible_under_a_seed():
    t = SegmentationTransform(mean=(0, 0, 0), std=(1, 1, 1), ignore_index=255,
                              augment=AugmentOptions(scale=(0.5, 2.0), crop=(6, 6), flip=True))
    image, label = _pair()
    torch.manual_seed(3)
    a = t(image, label)
    torch.manual_seed(3)
    b = t(image, label)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[0].shape == (3, 6, 6)
