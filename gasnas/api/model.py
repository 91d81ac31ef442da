"""What a segmentation network returns, and how it is trained.

A network maps ``N x 3 x H x W`` images to ``N x num_classes x H x W`` logits. In training mode it may return a
:class:`SegmentationOutput` with auxiliary logits (deep supervision, booster heads) and extra maps; in eval
mode it returns the logits tensor only, which is what ONNX export and latency measurement see.

A network with a loss of its own (e.g. STDC's detail loss) defines ``loss(output, target, criterion)``
returning named loss terms; otherwise :func:`segmentation_loss` applies cross-entropy to the main and
auxiliary logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SegmentationOutput", "as_output", "segmentation_loss", "resize_to"]


@dataclass
class SegmentationOutput:
    """Training-time output: main logits, auxiliary logits, and named extra maps."""

    logits: Tensor
    aux: list[Tensor] = field(default_factory=list)
    extras: dict[str, Tensor] = field(default_factory=dict)


def as_output(out: Tensor | SegmentationOutput | tuple | list) -> SegmentationOutput:
    """Normalise whatever a network returned to a :class:`SegmentationOutput`."""
    if isinstance(out, SegmentationOutput):
        return out
    if isinstance(out, Tensor):
        return SegmentationOutput(out)
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return SegmentationOutput(out[0], [o for o in out[1:] if isinstance(o, Tensor)])
    raise TypeError(f"a segmentation network returned {type(out).__name__}; expected a tensor or SegmentationOutput")


def resize_to(logits: Tensor, size: tuple[int, int]) -> Tensor:
    if logits.shape[-2:] == size:
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def segmentation_loss(model: nn.Module, out: Tensor | SegmentationOutput, target: Tensor, criterion: nn.Module,
                      aux_weight: float = 0.4) -> tuple[Tensor, dict[str, float]]:
    """The training loss of ``model`` on ``target``: its own ``loss`` method when it has one, else CE on the
    main logits plus ``aux_weight`` x CE on each auxiliary output. Returns the total and the parts."""
    output = as_output(out)
    size = tuple(target.shape[-2:])
    own = getattr(model, "loss", None)
    if callable(own):
        terms = own(output, target, criterion)
    else:
        terms = {"ce": criterion(resize_to(output.logits, size), target)}
        for i, aux in enumerate(output.aux):
            terms[f"aux{i}"] = aux_weight * criterion(resize_to(aux, size), target)
    total = sum(terms.values())
    return total, {k: float(v.detach()) for k, v in terms.items()}
