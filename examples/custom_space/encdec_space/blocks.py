"""The candidates: three encoder blocks (any hidden width) and three skip fusions, plus the fixed parts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 relu: bool = True) -> None:
        layers = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
        super().__init__(*layers, *([nn.ReLU(inplace=True)] if relu else []))


def make_block(kind: str, c_in: int, hidden: int, c_out: int, stride: int = 2) -> nn.Sequential:
    """conv: 3x3 -> 1x1; sepconv: depthwise 3x3 -> 1x1 -> 1x1; mbconv: 1x1 -> depthwise 3x3 -> linear 1x1."""
    if kind == "conv":
        return nn.Sequential(ConvBNReLU(c_in, hidden, 3, stride), ConvBNReLU(hidden, c_out))
    if kind == "sepconv":
        return nn.Sequential(ConvBNReLU(c_in, c_in, 3, stride, groups=c_in), ConvBNReLU(c_in, hidden),
                             ConvBNReLU(hidden, c_out))
    if kind == "mbconv":
        return nn.Sequential(ConvBNReLU(c_in, hidden), ConvBNReLU(hidden, hidden, 3, stride, groups=hidden),
                             ConvBNReLU(hidden, c_out, relu=False))
    raise ValueError(f"unknown block {kind!r}")


class Fusion(nn.Module):
    """Upsample the decoder state to the skip's resolution, then add the projected skip, concatenate and mix,
    or ignore the skip."""

    def __init__(self, kind: str, c_dec: int, c_skip: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "add":
            self.mix = ConvBNReLU(c_skip, c_dec, relu=False)
        elif kind == "concat":
            self.mix = ConvBNReLU(c_dec + c_skip, c_dec)
        elif kind != "none":
            raise ValueError(f"unknown fusion {kind!r}")

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        if self.kind == "add":
            return x + self.mix(skip)
        if self.kind == "concat":
            return self.mix(torch.cat([x, skip], dim=1))
        return x


class Head(nn.Module):
    """1x1 classifier, then bilinear resize to the input size."""

    def __init__(self, c_in: int, num_classes: int, size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.classifier = nn.Conv2d(c_in, num_classes, 1)
        self.size = size  # fixed output size when timed on its own

    def forward(self, x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        return F.interpolate(self.classifier(x), size=size or self.size, mode="bilinear", align_corners=False)
