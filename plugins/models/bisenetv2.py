"""BiSeNetV2 (Yu et al., IJCV 2021): a wide shallow detail branch, a narrow deep semantic branch, and a bilateral
guided aggregation (BGA) layer that lets each branch gate the other. Booster heads train only.

Bottom-up: detail branch -> stem block, gather-and-expand layers, context embedding (semantic branch) -> BGA ->
model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api.model import SegmentationOutput
from gasnas_plugins.models.build import arguments, load_weights
from gasnas_plugins.models.layers import ConvBNReLU, SegHead, init_weights, upsample
from gasnas_plugins.models.options import BiSeNetV2Options

__all__ = ["DetailBranch", "StemBlock", "GatherExpand", "ContextEmbedding", "SemanticBranch",
           "BilateralGuidedAggregation", "BiSeNetV2", "bisenetv2"]


class DetailBranch(nn.Module):
    """Stages S1-S3: a stride-2 3x3 ConvBNReLU then 1, 2, 2 more 3x3 layers each; 1/8 resolution."""

    def __init__(self, channels: tuple[int, int, int] = (64, 64, 128)) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.s1 = nn.Sequential(ConvBNReLU(3, c1, 3, 2), ConvBNReLU(c1, c1))
        self.s2 = nn.Sequential(ConvBNReLU(c1, c2, 3, 2), ConvBNReLU(c2, c2), ConvBNReLU(c2, c2))
        self.s3 = nn.Sequential(ConvBNReLU(c2, c3, 3, 2), ConvBNReLU(c3, c3), ConvBNReLU(c3, c3))

    def forward(self, x: Tensor) -> Tensor:
        return self.s3(self.s2(self.s1(x)))


class StemBlock(nn.Module):
    """Stride-2 3x3 conv, then a conv branch (1x1 down, 3x3 stride 2) beside a max pool, concatenated and fused."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.conv = ConvBNReLU(3, channels, 3, 2)
        self.branch = nn.Sequential(ConvBNReLU(channels, channels // 2, 1), ConvBNReLU(channels // 2, channels, 3, 2))
        self.fuse = ConvBNReLU(2 * channels, channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return self.fuse(torch.cat([self.branch(x), F.max_pool2d(x, 3, 2, 1)], dim=1))


class GatherExpand(nn.Module):
    """Gather-and-expand layer: 3x3 conv gathers, depthwise 3x3 expands by ``expansion``, 1x1 projects back.

    With stride 2 the expansion is a stride-2 depthwise conv followed by a second depthwise conv, and the
    shortcut is a depthwise stride-2 conv plus a 1x1 projection; ReLU after the sum.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, expansion: int = 6) -> None:
        super().__init__()
        mid = in_channels * expansion
        expand = [ConvBNReLU(in_channels, mid, 3, stride, groups=in_channels, relu=stride == 1)]
        if stride == 2:
            expand.append(ConvBNReLU(mid, mid, 3, groups=mid))
        self.gather = ConvBNReLU(in_channels, in_channels, 3)
        self.expand = nn.Sequential(*expand)
        self.project = ConvBNReLU(mid, out_channels, 1, relu=False)
        self.shortcut = nn.Identity() if stride == 1 and in_channels == out_channels else nn.Sequential(
            ConvBNReLU(in_channels, in_channels, 3, stride, groups=in_channels, relu=False),
            ConvBNReLU(in_channels, out_channels, 1, relu=False))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.project(self.expand(self.gather(x))) + self.shortcut(x))


class ContextEmbedding(nn.Module):
    """GAP -> BN -> 1x1 ConvBNReLU, added back to the input (residual), then a 3x3 ConvBNReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.squeeze = ConvBNReLU(channels, channels, 1)
        self.out = ConvBNReLU(channels, channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(x + self.squeeze(self.bn(x.mean((2, 3), keepdim=True))))


class SemanticBranch(nn.Module):
    """Stem (1/4) -> S3 (1/8) -> S4 (1/16) -> S5 (1/32, four GE layers) -> context embedding.

    Returns every stage's output: the booster heads read the first four, the aggregation the last.
    """

    def __init__(self, channels: tuple[int, int, int, int] = (16, 32, 64, 128), expansion: int = 6) -> None:
        super().__init__()
        c0, c3, c4, c5 = channels
        self.stem = StemBlock(c0)
        self.s3 = nn.Sequential(GatherExpand(c0, c3, 2, expansion), GatherExpand(c3, c3, 1, expansion))
        self.s4 = nn.Sequential(GatherExpand(c3, c4, 2, expansion), GatherExpand(c4, c4, 1, expansion))
        self.s5 = nn.Sequential(GatherExpand(c4, c5, 2, expansion),
                                *[GatherExpand(c5, c5, 1, expansion) for _ in range(3)])
        self.context = ContextEmbedding(c5)

    def forward(self, x: Tensor) -> list[Tensor]:
        s2 = self.stem(x)
        s3 = self.s3(s2)
        s4 = self.s4(s3)
        s5 = self.s5(s4)
        return [s2, s3, s4, s5, self.context(s5)]


class BilateralGuidedAggregation(nn.Module):
    """BGA: detail (1/8) and semantic (1/32) features gate each other at both resolutions, then a 3x3 conv fuses.

    detail_keep * sigmoid(up(semantic_up)) + up(detail_down * sigmoid(semantic_keep)).
    """

    def __init__(self, channels: int = 128) -> None:
        super().__init__()
        self.detail_keep = nn.Sequential(ConvBNReLU(channels, channels, 3, groups=channels, relu=False),
                                         nn.Conv2d(channels, channels, 1, bias=False))
        self.detail_down = nn.Sequential(ConvBNReLU(channels, channels, 3, 2, relu=False), nn.AvgPool2d(3, 2, 1))
        self.semantic_up = ConvBNReLU(channels, channels, 3, relu=False)
        self.semantic_keep = nn.Sequential(ConvBNReLU(channels, channels, 3, groups=channels, relu=False),
                                           nn.Conv2d(channels, channels, 1, bias=False))
        self.fuse = ConvBNReLU(channels, channels, 3)

    def forward(self, detail: Tensor, semantic: Tensor) -> Tensor:
        size = detail.shape[-2:]
        high = self.detail_keep(detail) * torch.sigmoid(upsample(self.semantic_up(semantic), size))
        low = self.detail_down(detail) * torch.sigmoid(self.semantic_keep(semantic))
        return self.fuse(high + upsample(low, size))


class BiSeNetV2(nn.Module):
    """Detail branch + semantic branch -> BGA -> head; booster heads on S2, S3, S4 and S5_4 in training."""

    training_only = ("aux_heads.",)

    def __init__(self, num_classes: int, *, detail_channels: tuple[int, int, int] = (64, 64, 128),
                 semantic_channels: tuple[int, int, int, int] = (16, 32, 64, 128), expansion: int = 6,
                 head_channels: int = 1024, aux_head_channels: int = 128, aux_heads: bool = True) -> None:
        super().__init__()
        self.detail = DetailBranch(detail_channels)
        self.semantic = SemanticBranch(semantic_channels, expansion)
        self.aggregation = BilateralGuidedAggregation(detail_channels[-1])
        self.head = SegHead(detail_channels[-1], head_channels, num_classes, dropout=0.1)
        self.aux_heads = nn.ModuleList([SegHead(c, aux_head_channels, num_classes, dropout=0.1)
                                        for c in (semantic_channels if aux_heads else ())])
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor | SegmentationOutput:
        *stages, semantic = self.semantic(x)
        logits = self.head(self.aggregation(self.detail(x), semantic), x.shape[-2:])
        if not self.training or not self.aux_heads:
            return logits
        return SegmentationOutput(logits, [head(f, x.shape[-2:]) for head, f in zip(self.aux_heads, stages)])


def bisenetv2(num_classes: int, options: BiSeNetV2Options | None = None) -> BiSeNetV2:
    """BiSeNetV2 (trained from scratch; ``weights`` loads a state dict)."""
    options = options or BiSeNetV2Options()
    return load_weights(BiSeNetV2(num_classes, **arguments(options)), options.weights)
