"""Knowledge distillation in ``gasnas train``: a trained teacher's softened logits as a second target.

The term is Hinton et al.'s: ``T^2 * KL(softmax(t / T) || softmax(s / T))``, per pixel and averaged over the pixels
of the batch, ``t`` the teacher's and ``s`` the student's logits; the factor T^2 keeps its gradients the same size
whatever the temperature. FasterSeg trains its searched student against its trained teacher this way (papers.md
section 2.5). The teacher runs in eval mode without gradients; it must predict the student's classes at the
student's output size.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api import CheckpointError, ConfigError, PluginManager
from gasnas.api.model import as_output, resize_to
from gasnas_plugins.training.checkpoint import load_trained
from gasnas_plugins.training.options import DistillOptions

__all__ = ["Teacher", "distillation_loss"]


def distillation_loss(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """``T^2 * KL(softmax(teacher / T) || softmax(student / T))`` summed over classes, averaged over pixels;
    logits ``N x C x H x W``, computed in float32."""
    t = temperature
    log_s = F.log_softmax(student.float() / t, dim=1)
    log_t = F.log_softmax(teacher.float() / t, dim=1)
    kl = (log_t.exp() * (log_t - log_s)).sum(dim=1)
    return kl.mean() * t * t


class Teacher:
    """The frozen teacher of a distilled training, and the running sum of its term over an epoch."""

    def __init__(self, network: nn.Module, options: DistillOptions, source: str) -> None:
        self.network = network.eval()
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.options = options
        self.source = source
        self._sum: Tensor | None = None
        self._steps = 0

    @classmethod
    def load(cls, options: DistillOptions, num_classes: int, pm: PluginManager, device: torch.device) -> Teacher:
        """The teacher of ``options.teacher`` (a training run directory or checkpoint) on ``device``; refused when
        it predicts another number of classes than the student's dataset."""
        where = f"train.distill.teacher ({options.teacher})"
        try:
            trained = load_trained(Path(str(options.teacher)))
        except CheckpointError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if trained.num_classes != num_classes:
            raise ConfigError(f"{where}: the teacher {trained.spec.describe()} predicts {trained.num_classes} "
                              f"classes, the student's dataset has {num_classes}: distillation needs a teacher "
                              "trained on the same classes (train one on this dataset first)")
        return cls(trained.build(pm).to(device), options, str(trained.path))

    def describe(self) -> str:
        o = self.options
        return f"teacher {self.source} (temperature {o.temperature:g}, weight {o.weight:g})"

    def term(self, images: Tensor, student_logits: Tensor) -> Tensor:
        """``weight`` times the distillation loss of ``student_logits`` (resized to the images, as the
        cross-entropy resizes them to the labels) against the teacher on ``images``; the unweighted loss is added
        to the epoch's sum."""
        with torch.no_grad():
            logits = as_output(self.network(images)).logits
        student_logits = resize_to(student_logits, tuple(images.shape[-2:]))
        if logits.shape != student_logits.shape:
            raise ConfigError(f"train.distill.teacher ({self.source}): the teacher's output "
                              f"{tuple(logits.shape)} does not match the student's {tuple(student_logits.shape)} "
                              "(N x classes x H x W); both must predict the same classes at the same size")
        loss = distillation_loss(student_logits, logits, self.options.temperature)
        detached = loss.detach()
        self._sum = detached if self._sum is None else self._sum + detached
        self._steps += 1
        return self.options.weight * loss

    def epoch_metrics(self) -> dict[str, float]:
        """The epoch's mean (unweighted) distillation loss under ``distill_loss``; the sum starts again."""
        if self._sum is None:
            return {}
        mean = float(self._sum) / max(self._steps, 1)
        self._sum, self._steps = None, 0
        return {"distill_loss": mean}
