"""GAS's candidate operations. Each is conv -> BN -> ReLU shaped, so runtimes fuse it into one kernel group.

Ours (the paper does not say): separable convolutions are one depthwise + one pointwise convolution (not
DARTS' doubled stack), and a skip connection across a stride is a 1x1 stride-2 convolution with BN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["ConvBNReLU", "SepConv", "Zero", "make_op", "OP_FACTORIES"]


class ConvBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, dilation: int = 1,
                 relu: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, dilation * (kernel // 2), dilation,
                                             bias=False), nn.BatchNorm2d(c_out)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SepConv(nn.Sequential):
    """Depthwise 3x3 (strided, dilated) -> pointwise 1x1 -> BN -> ReLU."""

    def __init__(self, channels: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv2d(channels, channels, 3, stride, dilation, dilation, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )


class Zero(nn.Module):
    """No connection: zeros of the output's shape (only in the supernet; never derived)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x[:, :, :: self.stride, :: self.stride])


def _skip(c: int, stride: int) -> nn.Module:
    return nn.Identity() if stride == 1 else ConvBNReLU(c, c, kernel=1, stride=stride, relu=False)


OP_FACTORIES: dict[str, Callable[[int, int], nn.Module]] = {
    "zero": lambda c, s: Zero(s),
    "skip_connect": _skip,
    "max_pool_3x3": lambda c, s: nn.MaxPool2d(3, s, 1),
    "conv_3x3": lambda c, s: ConvBNReLU(c, c, 3, s),
    "sep_conv_3x3": lambda c, s: SepConv(c, s),
    "dil_sep_conv_3x3_2": lambda c, s: SepConv(c, s, 2),
    "dil_sep_conv_3x3_4": lambda c, s: SepConv(c, s, 4),
    "dil_sep_conv_3x3_8": lambda c, s: SepConv(c, s, 8),
}


def make_op(name: str, channels: int, stride: int) -> nn.Module:
    return OP_FACTORIES[name](channels, stride)


def is_free(name: str, stride: int) -> bool:
    """Operations that run no kernel: zero, and an identity skip."""
    return name == "zero" or (name == "skip_connect" and stride == 1)
