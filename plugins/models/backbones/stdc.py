"""The STDC backbone (Short-Term Dense Concatenate network, Fan et al. CVPR 2021).

Stages 1-2 are 3x3 stride-2 ConvBNReLU layers (base/2 and base channels); stages 3-5 stack STDC modules with
4, 8 and 16 x base channels. ``layers=(2, 2, 2)`` is STDC1 (STDCNet813), ``(4, 5, 3)`` is STDC2 (STDCNet1446).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas_plugins.models.layers import ConvBNReLU

__all__ = ["STDCModule", "STDCNet"]


def stdc_widths(out_channels: int, blocks: int) -> list[int]:
    """Channels of a module's conv blocks: N/2, N/4, ..., with the last block repeating the one before it."""
    widths = [out_channels // 2 ** (i + 1) for i in range(blocks - 1)]
    return widths + [widths[-1]]


class STDCModule(nn.Module):
    """A 1x1 conv then 3x3 convs of shrinking width; the outputs of all blocks are concatenated.

    With stride 2, the first block's output goes through a depthwise stride-2 ConvBN before block 2, and through
    a 3x3 average pool on its way to the concatenation.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, blocks: int = 4) -> None:
        super().__init__()
        widths = stdc_widths(out_channels, blocks)
        self.convs = nn.ModuleList([ConvBNReLU(in_channels, widths[0], 1)] +
                                   [ConvBNReLU(a, b, 3) for a, b in zip(widths, widths[1:])])
        self.down = ConvBNReLU(widths[0], widths[0], 3, 2, groups=widths[0], relu=False) if stride == 2 else None

    def forward(self, x: Tensor) -> Tensor:
        first = self.convs[0](x)
        out = self.down(first) if self.down is not None else first
        outs = []
        for conv in self.convs[1:]:
            out = conv(out)
            outs.append(out)
        skip = F.avg_pool2d(first, 3, 2, 1) if self.down is not None else first
        return torch.cat([skip, *outs], dim=1)


class STDCNet(nn.Module):
    """Returns the 1/8, 1/16 and 1/32 maps (stages 3, 4, 5); their channels are in ``channels``."""

    def __init__(self, layers: tuple[int, int, int] = (2, 2, 2), base: int = 64, blocks: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(ConvBNReLU(3, base // 2, 3, 2), ConvBNReLU(base // 2, base, 3, 2))
        stages, in_channels = [], base
        for i, n in enumerate(layers):
            width = base * 4 * 2 ** i
            stages.append(nn.Sequential(*[STDCModule(in_channels if j == 0 else width, width, 2 if j == 0 else 1,
                                                     blocks) for j in range(n)]))
            in_channels = width
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(base * 4 * 2 ** i for i in range(len(layers)))

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
