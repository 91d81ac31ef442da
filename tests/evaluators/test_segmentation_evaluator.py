"""The segmentation evaluator: numbers from a confusion matrix, ignore index, flip and multi-scale."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gasnas.api.dataset import SegmentationDataset
from gasnas.errors import DataError
from gasnas_plugins.evaluators.options import SegmentationOptions
from gasnas_plugins.evaluators.segmentation import ConfusionMatrix, SegmentationEvaluator, scores


class Three(SegmentationDataset):
    num_classes = 3
    class_names = ("a", "b", "c")
    palette = ((0, 0, 0), (1, 1, 1), (2, 2, 2))
    input_size = (2, 4)

    def split(self, name, *, train=False):
        raise NotImplementedError


class Fixed(nn.Module):
    """Predicts given class scores whatever the input (one-hot logits of ``pred``)."""

    def __init__(self, pred: torch.Tensor, classes: int = 3) -> None:
        super().__init__()
        self.logits = nn.functional.one_hot(pred, classes).permute(0, 3, 1, 2).float() * 5

    def forward(self, x):
        return self.logits[: x.shape[0]]


def test_scores_of_a_hand_computed_matrix():
    # true a: 3 pixels (2 right, 1 as b); true b: 1 pixel (right); true c: 2 pixels, predicted a
    m = torch.tensor([[2, 1, 0], [0, 1, 0], [2, 0, 0]])
    s = scores(m)
    iou = s["iou"].tolist()
    assert iou == pytest.approx([2 / 5, 1 / 2, 0.0])
    assert s["miou"] == pytest.approx((0.4 + 0.5 + 0) / 3)
    assert s["pixel_acc"] == pytest.approx(3 / 6)
    assert s["mean_acc"] == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_absent_class_is_left_out_of_the_mean():
    s = scores(torch.tensor([[4, 0, 0], [0, 2, 0], [0, 0, 0]]))
    assert math.isnan(s["iou"][2]) and s["miou"] == 1.0


def test_confusion_skips_ignore_and_refuses_unknown_labels():
    cm = ConfusionMatrix(3, ignore_index=255)
    cm.update(torch.tensor([[0, 1, 2, 2]]), torch.tensor([[0, 1, 255, 1]]))
    assert cm.matrix.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
    with pytest.raises(DataError, match=r"label values \[7\] are outside the 3 classes"):
        cm.update(torch.tensor([[0]]), torch.tensor([[7]]))


def test_evaluate_gives_metrics_per_class_and_the_matrix():
    labels = torch.tensor([[[0, 0, 1, 1], [2, 2, 255, 255]]])
    pred = torch.tensor([[[0, 0, 1, 0], [2, 1, 0, 0]]])
    result = SegmentationEvaluator().evaluate(Fixed(pred), [(torch.zeros(1, 3, 2, 4), labels)], dataset=Three())
    assert result.confusion.tolist() == [[2, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert result.per_class == pytest.approx({"a": 2 / 3, "b": 1 / 3, "c": 1 / 2})
    assert result.metrics["miou"] == pytest.approx((2 / 3 + 1 / 3 + 1 / 2) / 3)
    assert result.metrics["pixel_acc"] == pytest.approx(4 / 6)
    assert SegmentationEvaluator.primary_metric == "miou"


def test_perfect_prediction_and_option_ignore_index():
    labels = torch.tensor([[[0, 1, 2, 9]]])
    net = Fixed(torch.tensor([[[0, 1, 2, 0]]]))
    result = SegmentationEvaluator(SegmentationOptions(ignore_index=9)).evaluate(
        net, [(torch.zeros(1, 3, 1, 4), labels)], dataset=Three())
    assert result.metrics == {"miou": 1.0, "pixel_acc": 1.0, "mean_acc": 1.0}


class LeftHalf(nn.Module):
    """Class 1 on the left half of the image, class 0 on the right, at half resolution (tests resizing)."""

    def forward(self, x):
        n, _, h, w = x.shape
        out = torch.zeros(n, 2, h // 2, w // 2)
        out[:, 1, :, : w // 4] = 1.0
        out[:, 0, :, w // 4:] = 1.0
        return out


def test_flip_and_multiscale_average_probabilities():
    images = torch.zeros(1, 3, 8, 8)
    plain = SegmentationEvaluator().predict(LeftHalf(), images)
    assert plain.shape == (1, 2, 8, 8)
    flipped = SegmentationEvaluator(SegmentationOptions(flip=True)).predict(LeftHalf(), images)
    # the mirrored prediction disagrees everywhere: the average is 0.5 for both classes
    assert torch.allclose(flipped, torch.full_like(flipped, 0.5))
    multi = SegmentationEvaluator(SegmentationOptions(scales=(0.5, 1.0, 2.0))).predict(LeftHalf(), images)
    assert multi.shape == (1, 2, 8, 8) and torch.allclose(multi.sum(1), torch.ones(1, 8, 8))
    assert (multi.argmax(1)[:, :, :4] == 1).all() and (multi.argmax(1)[:, :, 4:] == 0).all()


def test_forward_argument_replaces_the_model():
    labels = torch.zeros(1, 2, 4, dtype=torch.long)
    model = Fixed(torch.ones(1, 2, 4, dtype=torch.long))
    result = SegmentationEvaluator().evaluate(model, [(torch.zeros(1, 3, 2, 4), labels)], dataset=Three(),
                                              forward=Fixed(torch.zeros(1, 2, 4, dtype=torch.long)))
    assert result.metrics["pixel_acc"] == 1.0


def test_bad_scales_are_refused():
    from gasnas.errors import ConfigError
    from gasnas.options import parse_options

    with pytest.raises(ConfigError, match=r"scales: 0 is out of range: expected > 0"):
        parse_options(SegmentationOptions, {"scales": [0.5, 0]})
    with pytest.raises(ConfigError, match="scales must be a non-empty list of positive numbers"):
        parse_options(SegmentationOptions, {"scales": []})
