"""A throw-away model for the training, evaluation and export tests: a tiny FCN, optionally with an auxiliary
head, registered only inside tests (``tiny_fcn`` fixture), and a training config on tiny digit scenes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch.nn.functional as F
import yaml
from torch import Tensor, nn

from gasnas import hookimpl
from gasnas.api.model import SegmentationOutput
from gasnas.options import option


@dataclass(frozen=True)
class TinyFCNOptions:
    width: int = option(8, "channels")
    aux: bool = option(False, "return auxiliary logits in training mode")


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class TinyFCN(nn.Module):
    def __init__(self, num_classes: int, options: TinyFCNOptions | None = None) -> None:
        super().__init__()
        options = options or TinyFCNOptions()
        self.stem = _conv(3, options.width, 2)
        self.body = _conv(options.width, options.width)
        self.head = nn.Conv2d(options.width, num_classes, 1)
        self.aux = nn.Conv2d(options.width, num_classes, 1) if options.aux else None

    def forward(self, x: Tensor) -> Tensor | SegmentationOutput:
        stem = self.stem(x)
        logits = F.interpolate(self.head(self.body(stem)), size=x.shape[-2:], mode="bilinear", align_corners=False)
        if self.training and self.aux is not None:
            return SegmentationOutput(logits, [self.aux(stem)])
        return logits


class ToyModels:
    @hookimpl
    def gasnas_register_models(self, registry):
        registry.add("tiny-fcn", TinyFCN, options=TinyFCNOptions, description="a two-layer FCN for tests")


def tiny_scenes(cache) -> dict:
    """Params of a digit-scenes dataset that trains in a second."""
    return {"size": [32, 64], "train_size": 16, "val_size": 8, "test_size": 4, "sign_size": [40, 80],
            "augment": {"crop": [32, 64]}, "cache_dir": str(cache)}


@pytest.fixture
def tiny_fcn(register) -> None:
    """Registers the model ``tiny-fcn`` for one test."""
    register(ToyModels(), name="toy-models")


@pytest.fixture
def train_yaml(tmp_path):
    """Writes a training config on tiny digit scenes; ``train_yaml(**train)`` sets train options."""

    def _write(**train) -> str:
        path = tmp_path / "train.yaml"
        path.write_text(yaml.safe_dump({"dataset": {"name": "digit-scenes", "params": tiny_scenes(tmp_path / "cache")},
                                        "train": {"epochs": 2, "batch_size": 4, "optimizer": "sgd", "lr": 0.05,
                                                  **train},
                                        "output": str(tmp_path / "runs"), "device": "cpu"}))
        return str(path)

    return _write
