"""Blocks shared by the model zoo, bottom-up: ConvBNReLU, the BiSeNet attention blocks, the context path, heads.

BiSeNetV1 and STDC-Seg share the attention refinement module (ARM), the feature fusion module (FFM) and the
context path built from them; every model uses :class:`SegHead`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConvBNReLU", "AttentionRefinement", "FeatureFusion", "ContextPath", "SegHead", "upsample",
           "init_weights"]


def upsample(x: Tensor, size: tuple[int, int] | torch.Size, mode: str = "bilinear") -> Tensor:
    """Resize ``x`` to ``size`` (always an explicit resize, so a dynamic-size ONNX export stays correct)."""
    return F.interpolate(x, size=size, mode=mode, align_corners=False if mode == "bilinear" else None)


class ConvBNReLU(nn.Module):
    """Conv (no bias) -> BatchNorm -> ReLU, "same" padding; ``relu=False`` leaves the activation out."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, dilation: int = 1, relu: bool = True) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


class AttentionRefinement(nn.Module):
    """ARM: 3x3 ConvBNReLU, then channel attention (GAP -> 1x1 conv -> BN -> sigmoid) multiplied in."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, out_channels, 3)
        self.attention = ConvBNReLU(out_channels, out_channels, 1, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return x * torch.sigmoid(self.attention(x.mean((2, 3), keepdim=True)))


class FeatureFusion(nn.Module):
    """FFM: concatenate two paths -> 1x1 ConvBNReLU -> SE-style attention; out = f + f * attention."""

    def __init__(self, in_channels: int, out_channels: int, reduction: int = 1) -> None:
        super().__init__()
        self.fuse = ConvBNReLU(in_channels, out_channels, 1)
        self.squeeze = nn.Conv2d(out_channels, out_channels // reduction, 1, bias=False)
        self.excite = nn.Conv2d(out_channels // reduction, out_channels, 1, bias=False)

    def forward(self, spatial: Tensor, context: Tensor) -> Tensor:
        x = self.fuse(torch.cat([spatial, context], dim=1))
        attention = torch.sigmoid(self.excite(F.relu(self.squeeze(x.mean((2, 3), keepdim=True)))))
        return x + x * attention


class ContextPath(nn.Module):
    """BiSeNet's context head on a backbone's 1/16 and 1/32 features.

    Global context (GAP -> 1x1 ConvBNReLU) is added to ARM(1/32); the sum is upsampled to 1/16, refined by a 3x3
    ConvBNReLU and added to ARM(1/16); that sum is upsampled to 1/8 and refined. Returns the refined 1/8 and 1/16
    maps (the FFM's context input and the two auxiliary heads' inputs).
    """

    def __init__(self, in16: int, in32: int, channels: int, mode: str = "nearest") -> None:
        super().__init__()
        self.global_context = ConvBNReLU(in32, channels, 1)
        self.arm32 = AttentionRefinement(in32, channels)
        self.arm16 = AttentionRefinement(in16, channels)
        self.refine32 = ConvBNReLU(channels, channels, 3)
        self.refine16 = ConvBNReLU(channels, channels, 3)
        self.mode = mode

    def forward(self, f16: Tensor, f32: Tensor, size8: torch.Size) -> tuple[Tensor, Tensor]:
        context = self.global_context(f32.mean((2, 3), keepdim=True))
        up16 = self.refine32(upsample(self.arm32(f32) + context, f16.shape[-2:], self.mode))
        up8 = self.refine16(upsample(self.arm16(f16) + up16, size8, self.mode))
        return up8, up16


class SegHead(nn.Module):
    """3x3 ConvBNReLU -> dropout -> 1x1 conv to classes, bilinearly upsampled to the requested size."""

    def __init__(self, in_channels: int, mid_channels: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, mid_channels, 3)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(mid_channels, num_classes, 1)

    def forward(self, x: Tensor, size: torch.Size) -> Tensor:
        return upsample(self.classifier(self.dropout(self.conv(x))), size)


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal convs (fan out, ReLU), unit BatchNorm, zero biases: training from scratch."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
