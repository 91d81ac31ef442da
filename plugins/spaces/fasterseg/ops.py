"""FasterSeg's candidate operations, each ``c_in -> c_out`` at stride 1 or 2.

From FasterSeg's code: ``skip`` is a 1x1 projection (its FactorizedReduce), ``conv`` a 3x3 conv-BN-ReLU,
``conv_2x`` two of them, and the zoomed forms (``_downup``) run the convolutions at half the resolution between
a bilinear downsampling and a bilinear upsampling. Ours: a stride-2 operation strides its first convolution, and
a zoomed one returns to the strided size.

``forward(x, mask)`` multiplies every convolution's output by ``mask`` (a ``C`` vector, broadcast over N, H, W):
the supernet's width relaxation. With a 0/1 mask keeping the first ``k`` channels, the operation computes the
same function as one built with ``c_out = k``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConvBNReLU", "Operation", "make_op"]


class ConvBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, relu: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                                   nn.BatchNorm2d(c_out)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def _masked(x: Tensor, mask: Tensor | None) -> Tensor:
    return x if mask is None else x * mask.view(1, -1, 1, 1)


class Operation(nn.Module):
    """A chain of ``convs`` convolutions (1x1 without ReLU for the skip), optionally zoomed; ``block`` builds
    each convolution (:class:`ConvBNReLU`; the NNI form passes one with mutable channels)."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, convs: int, zoom: bool,
                 block: Callable[..., nn.Module] = ConvBNReLU) -> None:
        super().__init__()
        self.stride, self.zoom = stride, zoom
        relu = kernel != 1
        self.convs = nn.ModuleList(block(c_in if i == 0 else c_out, c_out, kernel, stride if i == 0 else 1, relu)
                                   for i in range(convs))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        size = (-(-x.shape[2] // self.stride), -(-x.shape[3] // self.stride))
        if self.zoom:
            x = F.interpolate(x, size=(-(-x.shape[2] // 2), -(-x.shape[3] // 2)), mode="bilinear",
                              align_corners=False)
        for conv in self.convs:
            x = _masked(conv(x), mask)
        if self.zoom:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x


#: each operation's kernel, number of convolutions and zoom
OP_SHAPES: dict[str, dict[str, int | bool]] = {
    "skip": dict(kernel=1, convs=1, zoom=False),
    "conv": dict(kernel=3, convs=1, zoom=False),
    "conv_2x": dict(kernel=3, convs=2, zoom=False),
    "conv_downup": dict(kernel=3, convs=1, zoom=True),
    "conv_2x_downup": dict(kernel=3, convs=2, zoom=True),
}


def make_op(name: str, c_in: int, c_out: int, stride: int, block: Callable[..., nn.Module] = ConvBNReLU) -> Operation:
    return Operation(c_in, c_out, stride, **OP_SHAPES[name], block=block)
