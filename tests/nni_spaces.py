"""NNI 3.0 model spaces for the tests of the ``nni`` space and strategy plugins (import nni: use only when it is
installed). Each is a small segmentation network for the rectangles dataset (3 x 32 x 64 images, 4 classes).
"""

from __future__ import annotations

import nni
import torch.nn.functional as F
from nni.nas.nn.pytorch import (Cell, InputChoice, LayerChoice, ModelSpace, MutableBatchNorm2d, MutableConv2d,
                                MutableDropout, ParametrizedModule, Repeat)
from torch import nn


def conv_bn(c_in, c_out, kernel=3, stride=1):
    return nn.Sequential(MutableConv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         MutableBatchNorm2d(c_out), nn.ReLU())


class AllPrimitives(ModelSpace):
    """Every NNI primitive: nni.choice on Mutable layers (width, with an expression), LayerChoice (named and
    listed candidates), Repeat with a depth choice, a Cell (op factories, 2 predecessors, 2 ops per node) and an
    InputChoice."""

    def __init__(self, num_classes: int = 4, widths: tuple = (8, 12)):
        super().__init__()
        w = nni.choice("width", list(widths))
        self.stem = conv_bn(3, w, 3, 2)
        self.op = LayerChoice({"conv": conv_bn(w, w), "sep": nn.Sequential(
            MutableConv2d(w, w, 3, 1, 1, groups=1, bias=False), conv_bn(w, w, 1)), "pool": nn.MaxPool2d(3, 1, 1)},
            label="op")
        self.blocks = Repeat(lambda i: LayerChoice([conv_bn(w, w), nn.Identity()], label=f"block{i}"), (1, 3),
                             label="depth")
        self.cell = Cell({"conv": lambda node, op, inp: conv_bn(w, w),
                          "skip": lambda node, op, inp: nn.Identity(),
                          "pool": lambda node, op, inp: nn.AvgPool2d(3, 1, 1)},
                         num_nodes=2, num_ops_per_node=2, num_predecessors=2, label="cell")
        # Outside the cell: NNI 3.0's Cell.freeze does not freeze a postprocessor when op factories are used.
        self.project = conv_bn(w * 2, w, 1)
        self.skip = InputChoice(2, 1, label="skip")
        self.head = MutableConv2d(w, num_classes, 1)

    def forward(self, x):
        a = self.op(self.stem(x))
        b = self.blocks(a)
        c = self.project(self.cell([a, b]))
        out = self.head(self.skip([b, c]))
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


class Simple(ModelSpace):
    """Two LayerChoices and a depth: small enough for multi-trial tests."""

    def __init__(self, num_classes: int = 4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.op = LayerChoice({"conv3": nn.Conv2d(8, 8, 3, 1, 1), "conv5": nn.Conv2d(8, 8, 5, 1, 2),
                               "pool": nn.MaxPool2d(3, 1, 1)}, label="op")
        self.blocks = Repeat(lambda i: nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU()), (1, 2), label="depth")
        self.head = nn.Conv2d(8, num_classes, 1)

    def forward(self, x):
        y = self.head(self.blocks(self.op(self.stem(x))))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class WithNumerical(Simple):
    """A dropout rate drawn from nni.uniform: sampling strategies can search it, relaxed ones cannot."""

    def __init__(self, num_classes: int = 4):
        super().__init__(num_classes)
        self.drop = MutableDropout(nni.uniform("dropout", 0.0, 0.5))

    def forward(self, x):
        return super().forward(self.drop(x))


class WithConcatInput(Simple):
    """An InputChoice that concatenates: not relaxable (a relaxed search sums the inputs)."""

    def __init__(self, num_classes: int = 4):
        super().__init__(num_classes)
        self.pick = InputChoice(2, 1, reduction="concat", label="pick")

    def forward(self, x):
        return super().forward(self.pick([x, x]))


class WithKernelChoice(Simple):
    """A kernel size chosen with nni.choice on a Mutable convolution: gasnas relaxes channel choices only."""

    def __init__(self, num_classes: int = 4):
        super().__init__(num_classes)
        k = nni.choice("kernel", [1, 3])
        self.extra = MutableConv2d(3, 3, k, padding=k // 2)

    def forward(self, x):
        return super().forward(self.extra(x))


class Scaled(ParametrizedModule):
    """A custom parametrized module: the scale is fixed when the space is built."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


class WithDanglingChoice(Simple):
    """An nni.choice consumed by a custom module: not relaxable."""

    def __init__(self, num_classes: int = 4):
        super().__init__(num_classes)
        self.scale = Scaled(nni.choice("scale", [0.5, 1.0]))

    def forward(self, x):
        return super().forward(self.scale(x))
