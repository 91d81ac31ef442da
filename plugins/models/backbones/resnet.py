"""ResNet-18 (He et al. 2016) without its classifier, as BiSeNetV1's context path uses it."""

from __future__ import annotations

from torch import Tensor, nn

from gasnas_plugins.models.layers import ConvBNReLU

__all__ = ["BasicBlock", "ResNet"]


class BasicBlock(nn.Module):
    """Two 3x3 ConvBN layers and a shortcut (1x1 ConvBN when the shape changes), ReLU after the sum."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(in_channels, out_channels, 3, stride)
        self.conv2 = ConvBNReLU(out_channels, out_channels, 3, relu=False)
        self.shortcut = (ConvBNReLU(in_channels, out_channels, 1, stride, relu=False)
                         if stride != 1 or in_channels != out_channels else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet(nn.Module):
    """7x7 stem and max pool (1/4), then four stages of basic blocks; returns the 1/8, 1/16 and 1/32 maps.

    ``blocks=(2, 2, 2, 2)`` with ``widths=(64, 128, 256, 512)`` is ResNet-18.
    """

    def __init__(self, blocks: tuple[int, ...] = (2, 2, 2, 2), widths: tuple[int, ...] = (64, 128, 256, 512)) -> None:
        super().__init__()
        self.stem = nn.Sequential(ConvBNReLU(3, widths[0], 7, 2), nn.MaxPool2d(3, 2, 1))
        stages, in_channels = [], widths[0]
        for i, (n, width) in enumerate(zip(blocks, widths)):
            layers = [BasicBlock(in_channels if j == 0 else width, width, 2 if j == 0 and i > 0 else 1)
                      for j in range(n)]
            stages.append(nn.Sequential(*layers))
            in_channels = width
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(widths[1:])

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stages[0](self.stem(x))
        features = []
        for stage in self.stages[1:]:
            x = stage(x)
            features.append(x)
        return features
