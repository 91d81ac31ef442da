"""Scoring one path of a trained supernet: BN statistics recalibrated for that path, then val mIoU.

The supernet's BN running statistics were accumulated over many paths, which misleads the evaluation of any
one of them (SPOS, Guo et al. 2020). Before scoring a path its statistics are reset and re-estimated from a few
train batches (cumulative average, train mode, no gradients); the batches are the same for every candidate, so
scores are comparable and a resumed search reproduces them.

Candidates may be scored in other processes (an executor other than ``serial``): :func:`score_path` is the task,
:class:`ScoringJob` what every task of a generation shares -- a CPU copy of the supernet with the calibration and
validation batches, moved once per worker to the device kind the search runs on.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api.evaluator import Evaluator
from gasnas.api.model import as_output
from gasnas.api.space import Supernet

__all__ = ["PathScorer", "ScoringJob", "resize_batch", "score_path"]


def resize_batch(images: Tensor, labels: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    """Images (bilinear) and labels (nearest) scaled by ``scale``; unchanged at 1."""
    if scale >= 1:
        return images, labels
    images = F.interpolate(images, scale_factor=scale, mode="bilinear", align_corners=False,
                           recompute_scale_factor=False)
    labels = F.interpolate(labels[:, None].float(), size=images.shape[-2:], mode="nearest")[:, 0].long()
    return images, labels


class PathScorer:
    """Scores samples on one supernet with fixed calibration and validation batches."""

    def __init__(self, supernet: Supernet, evaluator: Evaluator, dataset: Any, device: torch.device,
                 calibration: Sequence[tuple[Tensor, Tensor]], validation: Iterable[tuple[Tensor, Tensor]],
                 resize: float = 1.0, ignore_index: int = 255) -> None:
        self.supernet = supernet
        self.evaluator = evaluator
        self.dataset = dataset
        self.device = device
        self.calibration = list(calibration)
        self.validation = validation  # a list, or a loader (read again for every candidate)
        self.resize = resize
        self.ignore_index = ignore_index
        self.norms = [m for m in supernet.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    @torch.no_grad()
    def recalibrate(self, mixing: Mapping[str, Tensor]) -> None:
        """Re-estimate every BN layer's running statistics on the calibration batches under ``mixing``."""
        if not self.calibration:
            return
        momenta = [m.momentum for m in self.norms]
        for m in self.norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
        self.supernet.train()
        try:
            for images, _ in self.calibration:
                self.supernet(self._input(images), mixing)
        finally:
            for m, momentum in zip(self.norms, momenta):
                m.momentum = momentum
            self.supernet.eval()

    def _input(self, images: Tensor) -> Tensor:
        x = images.to(self.device)
        if self.resize < 1:
            x = F.interpolate(x, scale_factor=self.resize, mode="bilinear", align_corners=False,
                              recompute_scale_factor=False)
        return x

    def detached(self) -> PathScorer:
        """A scorer of its own on a CPU copy of the supernet, for other processes: scoring there leaves this one's
        BN statistics alone."""
        supernet = copy.deepcopy(self.supernet).cpu()
        return PathScorer(supernet, self.evaluator, self.dataset, torch.device("cpu"), self.calibration,
                          self.validation, self.resize, self.ignore_index)

    def to(self, device: torch.device) -> PathScorer:
        """Compute on ``device`` from now on (the supernet moves there)."""
        if device != self.device:
            self.supernet.to(device)
            self.device = device
        return self

    def score(self, sample: Mapping[str, Any]) -> dict[str, float]:
        """The evaluator's metrics of ``sample``'s path and its val cross-entropy (``loss``), after recalibrating
        its BN statistics."""
        mixing = self.supernet.mixing_for(sample)
        self.recalibrate(mixing)
        return {**self.evaluate(mixing), "loss": self.loss(mixing)}

    def _logits(self, images: Tensor, mixing: Mapping[str, Tensor]) -> Tensor:
        logits = as_output(self.supernet(self._input(images), mixing)).logits
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)

    @torch.no_grad()
    def evaluate(self, mixing: Mapping[str, Tensor]) -> dict[str, float]:
        self.supernet.eval()
        result = self.evaluator.evaluate(self.supernet, self.validation, dataset=self.dataset, device=self.device,
                                         forward=lambda images: self._logits(images, mixing))
        return dict(result.metrics)

    @torch.no_grad()
    def loss(self, mixing: Mapping[str, Tensor]) -> float:
        """Mean cross-entropy over the labelled val pixels."""
        self.supernet.eval()
        total, pixels = 0.0, 0
        for images, labels in self.validation:
            labels = labels.to(self.device)
            logits = self._logits(images, mixing)
            total += float(F.cross_entropy(logits, labels, ignore_index=self.ignore_index, reduction="sum"))
            pixels += int((labels != self.ignore_index).sum())
        return total / max(pixels, 1)


@dataclass
class ScoringJob:
    """What every scoring task of one generation reads: the scorer, the metric that ranks, the device kind."""

    scorer: PathScorer
    metric: str
    #: "cuda" or "cpu": a worker computes on a GPU Ray gave it when the search runs on one
    device_type: str = "cpu"


def score_path(job: ScoringJob, sample: Mapping[str, Any]) -> tuple[float, float]:
    """The task: (val metric, val cross-entropy) of ``sample``'s path."""
    if job.device_type == "cuda" and torch.cuda.is_available():
        job.scorer.to(torch.device("cuda"))
    metrics = job.scorer.score(sample)
    return float(metrics[job.metric]), float(metrics["loss"])
