"""STDC-Seg ("Rethinking BiSeNet", Fan et al., CVPR 2021): an STDC backbone whose stage 3 doubles as the spatial
path, a BiSeNet context path and FFM, and a detail head on stage 3 trained against the Laplacian detail ground
truth (BCE + Dice). The auxiliary and detail heads exist in training only.
"""

from __future__ import annotations

from torch import Tensor, nn

from gasnas.api.model import SegmentationOutput, resize_to
from gasnas_plugins.models.backbones.stdc import STDCNet
from gasnas_plugins.models.build import arguments, load_weights
from gasnas_plugins.models.detail_loss import DetailAggregationLoss
from gasnas_plugins.models.layers import ContextPath, FeatureFusion, SegHead, init_weights
from gasnas_plugins.models.options import STDCOptions

__all__ = ["STDCSeg", "stdc1", "stdc2"]


class STDCSeg(nn.Module):
    """STDC backbone (``layers`` modules per stage) -> context path -> FFM with stage 3 -> head."""

    training_only = ("aux_heads.", "detail_head.", "detail_loss.")

    def __init__(self, num_classes: int, layers: tuple[int, int, int], *, base_channels: int = 64,
                 context_channels: int = 128, ffm_channels: int = 256, ffm_reduction: int = 4,
                 head_channels: int = 256, aux_head_channels: int = 64, aux_heads: bool = True,
                 detail_head: bool = True, aux_weight: float = 1.0, detail_weight: float = 1.0) -> None:
        super().__init__()
        self.backbone = STDCNet(layers, base_channels)
        c8, c16, c32 = self.backbone.channels
        self.context = ContextPath(c16, c32, context_channels, mode="nearest")
        self.ffm = FeatureFusion(c8 + context_channels, ffm_channels, ffm_reduction)
        self.head = SegHead(ffm_channels, head_channels, num_classes)
        self.aux_heads = nn.ModuleList([SegHead(context_channels, aux_head_channels, num_classes)
                                        for _ in range(2 if aux_heads else 0)])
        self.detail_head = SegHead(c8, aux_head_channels, 1) if detail_head else None
        self.detail_loss = DetailAggregationLoss() if detail_head else None
        self.aux_weight, self.detail_weight = aux_weight, detail_weight
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor | SegmentationOutput:
        f8, f16, f32 = self.backbone(x)
        context8, context16 = self.context(f16, f32, f8.shape[-2:])
        logits = self.head(self.ffm(f8, context8), x.shape[-2:])
        if not self.training:
            return logits
        aux = [head(f, x.shape[-2:]) for head, f in zip(self.aux_heads, (context16, context8))]
        extras = {"detail": self.detail_head(f8, x.shape[-2:])} if self.detail_head is not None else {}
        return SegmentationOutput(logits, aux, extras)

    def loss(self, output: SegmentationOutput, target: Tensor, criterion: nn.Module) -> dict[str, Tensor]:
        """Cross-entropy on the main and auxiliary logits, plus the detail BCE and Dice terms."""
        size = target.shape[-2:]
        terms = {"ce": criterion(resize_to(output.logits, size), target)}
        for i, aux in enumerate(output.aux):
            terms[f"aux{i}"] = self.aux_weight * criterion(resize_to(aux, size), target)
        if self.detail_loss is not None and "detail" in output.extras:
            detail = self.detail_loss(output.extras["detail"], target)
            terms.update({k: self.detail_weight * v for k, v in detail.items()})
        return terms


def stdc1(num_classes: int, options: STDCOptions | None = None) -> STDCSeg:
    """STDC1-Seg: [2, 2, 2] STDC modules (STDCNet813), trained from scratch; ``weights`` loads a state dict."""
    options = options or STDCOptions()
    return load_weights(STDCSeg(num_classes, (2, 2, 2), **arguments(options)), options.weights)


def stdc2(num_classes: int, options: STDCOptions | None = None) -> STDCSeg:
    """STDC2-Seg: [4, 5, 3] STDC modules (STDCNet1446), trained from scratch; ``weights`` loads a state dict."""
    options = options or STDCOptions()
    return load_weights(STDCSeg(num_classes, (4, 5, 3), **arguments(options)), options.weights)
