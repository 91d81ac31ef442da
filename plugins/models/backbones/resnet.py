"""ResNet-18 (He et al. 2016) without its classifier, as BiSeNetV1's context path uses it.

It loads torchvision's ResNet state dicts (``resnet18``, ``resnet34`` with ``blocks=(3, 4, 6, 3)``) through the
``torchvision-resnet`` weight layout: ``conv1``/``bn1`` are the stem, ``layerN.B.{conv1,bn1,conv2,bn2}`` the two
ConvBN layers of block B of stage N, ``layerN.B.downsample.{0,1}`` its shortcut; the classifier ``fc`` is left out.
"""

from __future__ import annotations

import re

from torch import Tensor, nn

from gasnas.api.model import WeightLayout
from gasnas_plugins.models.layers import ConvBNReLU

__all__ = ["BasicBlock", "ResNet", "TORCHVISION_RESNET"]

#: torchvision's name of a block's part -> ours
_BLOCK_PARTS = {"conv1": "conv1.conv", "bn1": "conv1.bn", "conv2": "conv2.conv", "bn2": "conv2.bn",
                "downsample.0": "shortcut.conv", "downsample.1": "shortcut.bn"}
_STEM_PARTS = {"conv1": "stem.0.conv", "bn1": "stem.0.bn"}
_BLOCK_KEY = re.compile(r"layer(\d+)\.(\d+)\.(conv1|bn1|conv2|bn2|downsample\.0|downsample\.1)\.(\w+)")


def _torchvision_key(key: str) -> str | None:
    """torchvision's ResNet key -> :class:`ResNet`'s (``None`` for the classifier; an unknown key unchanged)."""
    if key.startswith("fc."):
        return None
    part, _, rest = key.partition(".")
    if part in _STEM_PARTS:
        return f"{_STEM_PARTS[part]}.{rest}"
    match = _BLOCK_KEY.fullmatch(key)
    if match is None:
        return key
    stage, block, part, rest = match.groups()
    return f"stages.{int(stage) - 1}.{block}.{_BLOCK_PARTS[part]}.{rest}"


TORCHVISION_RESNET = WeightLayout("torchvision-resnet", _torchvision_key,
                                  "torchvision's resnet18/resnet34 state dict (e.g. its ImageNet weights)")


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

    weight_layouts = (TORCHVISION_RESNET,)

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
