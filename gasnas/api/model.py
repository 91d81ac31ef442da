"""What a segmentation network returns, and how it is trained.

A network maps ``N x 3 x H x W`` images to ``N x num_classes x H x W`` logits. In training mode it may return a
:class:`SegmentationOutput` with auxiliary logits (deep supervision, booster heads) and extra maps; in eval
mode it returns the logits tensor only, which is what ONNX export and latency measurement see.

A network with a loss of its own (e.g. STDC's detail loss) defines ``loss(output, target, criterion)``
returning named loss terms; otherwise :func:`segmentation_loss` applies cross-entropy to the main and
auxiliary logits.

A network, or any module inside it (a backbone), may declare ``weight_layouts``: a tuple of
:class:`WeightLayout`, the foreign state dicts it can load (e.g. torchvision's keys for a ResNet backbone).
Loading weights (``model.params.weights``, ``gasnas train --init``; see :mod:`gasnas.weights`) tries the
network's own keys and every declared layout, each placed under the module that declares it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SegmentationOutput", "as_output", "segmentation_loss", "resize_to", "WeightLayout",
           "single_value_norms", "is_single_value_norm_error"]


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


def single_value_norms(model: nn.Module, images: Tensor, forward: Callable[[Tensor], object] | None = None
                       ) -> list[str]:
    """The batch-norm layers of ``model`` (their names) that see one value per channel when ``images`` go
    through it: a batch of one image reaching a 1 x 1 map, as after global pooling. Training cannot normalise a
    single value (torch refuses: "Expected more than 1 value per channel when training"), so batches that small
    cannot train such a model. Runs ``forward(images)`` (default ``model(images)``) once in eval mode without
    gradients: no statistic changes, and every module gets its mode back."""
    names = {m: name for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    found: list[str] = []

    def check(module: nn.Module, args: tuple) -> None:
        x = args[0]
        if x.dim() >= 2 and x.numel() <= x.shape[1] and names[module] not in found:
            found.append(names[module])

    modes = {m: m.training for m in model.modules()}
    hooks = [m.register_forward_pre_hook(check) for m in names]
    try:
        model.eval()
        with torch.no_grad():
            (forward or model)(images)
    finally:
        for hook in hooks:
            hook.remove()
        for m, training in modes.items():
            m.training = training
    return found


def is_single_value_norm_error(exc: BaseException) -> bool:
    """Whether ``exc`` is torch's refusal to batch-normalise one value per channel in training (see
    :func:`single_value_norms`)."""
    return isinstance(exc, ValueError) and "more than 1 value per channel" in str(exc)


@dataclass(frozen=True)
class WeightLayout:
    """A foreign key layout of weights that a module can load: ``rename`` turns a key of such a file into the
    module's key (``None``: a tensor the module has no use for, e.g. an ImageNet classifier; a key it does not know
    it returns unchanged). ``prefix`` is where the module sits in the network (set by :meth:`under`)."""

    name: str
    rename: Callable[[str], str | None]
    description: str = ""
    prefix: str = ""

    def key(self, file_key: str) -> str | None:
        """The network's key for ``file_key``, ``None`` when the layout leaves it out."""
        renamed = self.rename(file_key)
        return None if renamed is None else self.prefix + renamed

    def under(self, prefix: str) -> WeightLayout:
        """The layout of a module seen from the network that holds it under ``prefix`` (e.g. ``"backbone."``)."""
        return dataclasses.replace(self, prefix=prefix + self.prefix)
