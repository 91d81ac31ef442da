"""An NNI 3.0 model space as NNI users write them -- nothing from gasnas in it.

A small segmentation network for digit-scenes (11 classes): a strided stem, a searchable block, a searchable
stack of context blocks (1 to 3, each choosing its operation), a searchable skip, and a 1x1 classifier. The
width is one ``nni.choice`` shared by every layer through NNI's Mutable layers.
"""

from __future__ import annotations

import nni
import torch.nn.functional as F
from nni.nas.nn.pytorch import InputChoice, LayerChoice, ModelSpace, MutableBatchNorm2d, MutableConv2d, Repeat
from torch import nn


def conv(c_in, c_out, kernel=3, stride=1, dilation=1, groups=1):
    """conv -> BN -> ReLU; channel counts may be NNI choices."""
    return nn.Sequential(MutableConv2d(c_in, c_out, kernel, stride, dilation * (kernel // 2), dilation, groups,
                                       bias=False),
                         MutableBatchNorm2d(c_out), nn.ReLU())


def operations(w):
    return {"conv3x3": conv(w, w), "conv5x5": conv(w, w, 5), "dilated": conv(w, w, dilation=2),
            "pool": nn.MaxPool2d(3, 1, 1)}


class DigitSegSpace(ModelSpace):
    def __init__(self, num_classes: int = 11, width: int = 16):
        super().__init__()
        w = nni.choice("width", [width // 2, width])
        self.stem = nn.Sequential(conv(3, w, stride=2), conv(w, w, stride=2))
        self.block = LayerChoice(operations(w), label="block")
        self.context = Repeat(lambda i: LayerChoice(operations(w), label=f"context{i}"), (1, 3), label="depth")
        self.skip = InputChoice(2, 1, label="skip")
        self.classifier = MutableConv2d(w, num_classes, 1)

    def forward(self, x):
        a = self.block(self.stem(x))
        b = self.context(a)
        logits = self.classifier(self.skip([a, b]))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
