"""BiSeNetV1 (Yu et al., ECCV 2018): a spatial path for detail, a context path for receptive field, fused by FFM.

Spatial path: 7x7 and two 3x3 stride-2 ConvBNReLU layers, then 1x1 to ``spatial_channels`` at 1/8.
Context path: ResNet-18 or Xception39, global context + ARMs on 1/32 and 1/16, refined and upsampled to 1/8.
Two auxiliary heads on the context path's 1/16 and 1/8 maps supervise training only.
"""

from __future__ import annotations

from torch import Tensor, nn

from gasnas.api.model import SegmentationOutput
from gasnas_plugins.models.backbones.resnet import ResNet
from gasnas_plugins.models.backbones.xception import Xception
from gasnas_plugins.models.layers import ContextPath, ConvBNReLU, FeatureFusion, SegHead, init_weights
from gasnas_plugins.models.options import BiSeNetV1Options
from gasnas_plugins.models.build import arguments, load_weights

__all__ = ["SpatialPath", "BiSeNetV1", "bisenetv1_r18", "bisenetv1_xception39"]


class SpatialPath(nn.Module):
    """Three stride-2 ConvBNReLU layers (7x7, 3x3, 3x3) and a 1x1 projection: 1/8 resolution, wide channels."""

    def __init__(self, out_channels: int = 128, inner_channels: int = 64) -> None:
        super().__init__()
        self.layers = nn.Sequential(ConvBNReLU(3, inner_channels, 7, 2),
                                    ConvBNReLU(inner_channels, inner_channels, 3, 2),
                                    ConvBNReLU(inner_channels, inner_channels, 3, 2),
                                    ConvBNReLU(inner_channels, out_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class BiSeNetV1(nn.Module):
    """Spatial path + context path (``backbone`` returns 1/8, 1/16, 1/32 maps) -> FFM -> head."""

    training_only = ("aux_heads.",)

    def __init__(self, num_classes: int, backbone: nn.Module, *, spatial_channels: int = 128,
                 context_channels: int = 128, ffm_reduction: int = 1, head_channels: int = 64,
                 aux_head_channels: int = 128, aux_heads: bool = True) -> None:
        super().__init__()
        fused = spatial_channels + context_channels
        self.spatial = SpatialPath(spatial_channels)
        self.backbone = backbone
        self.context = ContextPath(backbone.channels[-2], backbone.channels[-1], context_channels, mode="bilinear")
        self.ffm = FeatureFusion(fused, fused, ffm_reduction)
        self.head = SegHead(fused, head_channels, num_classes)
        self.aux_heads = nn.ModuleList([SegHead(context_channels, aux_head_channels, num_classes)
                                        for _ in range(2 if aux_heads else 0)])
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor | SegmentationOutput:
        spatial = self.spatial(x)
        *_, f16, f32 = self.backbone(x)
        context8, context16 = self.context(f16, f32, spatial.shape[-2:])
        logits = self.head(self.ffm(spatial, context8), x.shape[-2:])
        if not self.training or not self.aux_heads:
            return logits
        aux = [head(f, x.shape[-2:]) for head, f in zip(self.aux_heads, (context16, context8))]
        return SegmentationOutput(logits, aux)


def bisenetv1_r18(num_classes: int, options: BiSeNetV1Options | None = None) -> BiSeNetV1:
    """BiSeNetV1 with a ResNet-18 context path (trained from scratch; ``weights`` loads a state dict)."""
    options = options or BiSeNetV1Options()
    return load_weights(BiSeNetV1(num_classes, ResNet((2, 2, 2, 2)), **arguments(options)), options.weights)


def bisenetv1_xception39(num_classes: int, options: BiSeNetV1Options | None = None) -> BiSeNetV1:
    """BiSeNetV1 with an Xception39 context path (trained from scratch; ``weights`` loads a state dict)."""
    options = options or BiSeNetV1Options()
    return load_weights(BiSeNetV1(num_classes, Xception((4, 8, 4)), **arguments(options)), options.weights)
