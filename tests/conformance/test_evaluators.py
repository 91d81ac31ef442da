"""Conformance of every registered evaluator: perfect predictions score 1.0, wrong ones less, ``forward=``
replaces the model, and the model is left in eval mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gasnas.api.dataset import SegmentationDataset
from gasnas.api.evaluator import EvaluationResult
from gasnas.plugins import PluginManager

EVALUATORS = [pytest.param(c, id=c.name) for c in PluginManager().registry("evaluators")]


class Four(SegmentationDataset):
    num_classes = 4
    class_names = ("w", "x", "y", "z")
    palette = ((0, 0, 0), (80, 80, 80), (160, 160, 160), (240, 240, 240))
    input_size = (6, 8)

    def split(self, name, *, train=False):
        raise NotImplementedError


class Oracle(nn.Module):
    """Returns one-hot logits of fixed labels (or of a wrong class everywhere)."""

    def __init__(self, labels: torch.Tensor, wrong: bool = False) -> None:
        super().__init__()
        target = (labels.clamp(0, 3) + int(wrong)) % 4
        self.register_buffer("logits", nn.functional.one_hot(target, 4).permute(0, 3, 1, 2).float() * 10)
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.logits[: x.shape[0]] * self.scale


def _batches():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (2, 6, 8), generator=g)
    labels[0, 0, :3] = 255
    return [(torch.randn(2, 3, 6, 8, generator=g), labels)], labels


def _evaluate(comp, model, batches, **kw) -> EvaluationResult:
    evaluator = comp.build(comp.default_options())
    return evaluator, evaluator.evaluate(model, batches, dataset=Four(), device="cpu", **kw)


@pytest.mark.parametrize("comp", EVALUATORS)
def test_perfect_predictions_score_one(comp):
    batches, labels = _batches()
    model = Oracle(labels).train()
    evaluator, result = _evaluate(comp, model, batches)
    assert isinstance(result, EvaluationResult)
    assert result.metrics[evaluator.primary_metric] == pytest.approx(1.0)
    assert not model.training, "evaluate puts the model in eval mode"


@pytest.mark.parametrize("comp", EVALUATORS)
def test_wrong_predictions_score_less(comp):
    batches, labels = _batches()
    evaluator, result = _evaluate(comp, Oracle(labels, wrong=True), batches)
    assert result.metrics[evaluator.primary_metric] < 0.5
    assert all(isinstance(v, float) for v in result.metrics.values())


@pytest.mark.parametrize("comp", EVALUATORS)
def test_forward_replaces_the_model(comp):
    batches, labels = _batches()
    evaluator, result = _evaluate(comp, Oracle(labels, wrong=True), batches, forward=Oracle(labels))
    assert result.metrics[evaluator.primary_metric] == pytest.approx(1.0)


@pytest.mark.parametrize("comp", EVALUATORS)
def test_no_gradients_are_kept(comp):
    batches, labels = _batches()
    model = Oracle(labels)
    _evaluate(comp, model, batches)
    assert model.scale.grad is None
