"""STDC's detail aggregation: a binary detail ground truth built from the labels, and its BCE + Dice loss.

A Laplacian kernel runs over the label map at strides 1, 2 and 4; each response is clamped at zero, upsampled
back (nearest), binarised at ``threshold``, stacked and fused by a 1x1 conv initialised to 0.6 / 0.3 / 0.1, and
binarised again. The fuse conv is a parameter, as in the official code, but the thresholds stop its gradient, so
in practice it stays at its initial weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DetailAggregationLoss", "dice_loss"]


def dice_loss(probs: Tensor, target: Tensor, smooth: float = 1.0) -> Tensor:
    """1 - Dice coefficient per image (flattened), averaged over the batch."""
    p, t = probs.flatten(1), target.flatten(1)
    return (1 - (2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)).mean()


class DetailAggregationLoss(nn.Module):
    """Detail ground truth from labels (:meth:`targets`) and BCE + Dice of the detail logits against it."""

    def __init__(self, strides: tuple[int, ...] = (1, 2, 4), fuse_init: tuple[float, ...] = (0.6, 0.3, 0.1),
                 threshold: float = 0.1) -> None:
        super().__init__()
        laplacian = torch.tensor([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]]).view(1, 1, 3, 3)
        self.register_buffer("laplacian", laplacian, persistent=False)
        self.fuse = nn.Parameter(torch.tensor(fuse_init).view(1, len(strides), 1, 1))
        self.strides = strides
        self.threshold = threshold

    def binary(self, x: Tensor) -> Tensor:
        return (x > self.threshold).to(x.dtype)

    @torch.no_grad()
    def targets(self, labels: Tensor) -> Tensor:
        """The binary detail map (N x 1 x H x W) of integer labels (N x H x W)."""
        y = labels.unsqueeze(1).float()
        maps = []
        for s in self.strides:
            edges = F.conv2d(y, self.laplacian, stride=s, padding=1).clamp(min=0)
            maps.append(self.binary(F.interpolate(edges, size=y.shape[-2:], mode="nearest")))
        return self.binary(F.conv2d(torch.cat(maps, dim=1), self.fuse))

    def forward(self, logits: Tensor, labels: Tensor) -> dict[str, Tensor]:
        target = self.targets(labels)
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        return {"detail_bce": F.binary_cross_entropy_with_logits(logits, target),
                "detail_dice": dice_loss(torch.sigmoid(logits), target)}
