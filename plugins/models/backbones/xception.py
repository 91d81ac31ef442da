"""Xception39, the light context-path backbone of BiSeNetV1, from its description in the official TorchSeg code.

3x3 stride-2 stem (8 channels) and max pool to 1/4; three stages of 4, 8 and 4 residual blocks, each block three
separable convs with a 4x expansion at the last one, reaching 1/8, 1/16 and 1/32 with 64, 128 and 256 channels.
"""

from __future__ import annotations

from torch import Tensor, nn

from gasnas_plugins.models.layers import ConvBNReLU

__all__ = ["SeparableConvBNReLU", "XceptionBlock", "Xception"]


class SeparableConvBNReLU(nn.Module):
    """Depthwise 3x3 conv (no norm) -> pointwise ConvBN(ReLU)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, relu: bool = True) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False)
        self.pointwise = ConvBNReLU(in_channels, out_channels, 1, relu=relu)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """Three separable convs (mid, mid, expansion x mid) plus a shortcut (a separable conv when downsampling)."""

    def __init__(self, in_channels: int, mid_channels: int, stride: int = 1, expansion: int = 4) -> None:
        super().__init__()
        out_channels = mid_channels * expansion
        self.residual = nn.Sequential(SeparableConvBNReLU(in_channels, mid_channels, stride),
                                      SeparableConvBNReLU(mid_channels, mid_channels),
                                      SeparableConvBNReLU(mid_channels, out_channels, relu=False))
        self.shortcut = (SeparableConvBNReLU(in_channels, out_channels, stride, relu=False)
                         if stride != 1 or in_channels != out_channels else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.residual(x) + self.shortcut(x))


class Xception(nn.Module):
    """Stem to 1/4, then one stride-2 stage per entry of ``blocks``; returns every stage's output (1/8 ... 1/32).

    ``blocks=(4, 8, 4)`` with ``widths=(16, 32, 64)`` and ``stem_channels=8`` is Xception39.
    """

    def __init__(self, blocks: tuple[int, ...] = (4, 8, 4), widths: tuple[int, ...] = (16, 32, 64),
                 stem_channels: int = 8, expansion: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(ConvBNReLU(3, stem_channels, 3, 2), nn.MaxPool2d(3, 2, 1))
        stages, in_channels = [], stem_channels
        for n, width in zip(blocks, widths):
            layers = [XceptionBlock(in_channels if j == 0 else width * expansion, width, 2 if j == 0 else 1,
                                    expansion) for j in range(n)]
            stages.append(nn.Sequential(*layers))
            in_channels = width * expansion
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(w * expansion for w in widths)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
