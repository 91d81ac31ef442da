"""What `gasnas train` refuses before training (no step, batches of one image a model cannot train on) and what
it flags after (a network no better than predicting the background everywhere)."""

from __future__ import annotations

import json
import re

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import Tensor, nn

from gasnas import hookimpl
from gasnas.api.model import single_value_norms
from gasnas.errors import ConfigError, DataError
from gasnas.run import RunDirectory
from gasnas_plugins.training.config import load_train_config
from gasnas_plugins.training.trainer import Trainer


class PooledFCN(nn.Module):
    """A two-layer FCN with a global-context branch (global pooling -> 1x1 conv -> batch norm, as BiSeNet's); with
    ``aux_only`` the branch is an auxiliary head that runs in training mode only."""

    def __init__(self, num_classes: int, aux_only: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.context = nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8))
        self.head = nn.Conv2d(8, num_classes, 1)
        self.aux_only = aux_only

    def forward(self, x: Tensor) -> Tensor:
        f = self.body(x)
        if not self.aux_only:
            f = f + self.context(f.mean((2, 3), keepdim=True))
        elif self.training:
            f = f + 0 * self.context(f.mean((2, 3), keepdim=True))
        return F.interpolate(self.head(f), size=x.shape[-2:], mode="bilinear", align_corners=False)


class PooledModels:
    @hookimpl
    def gasnas_register_models(self, registry):
        registry.add("pooled-fcn", PooledFCN, description="an FCN with global context")
        registry.add("pooled-aux-fcn", lambda num_classes, options=None: PooledFCN(num_classes, aux_only=True),
                     description="an FCN with a pooled auxiliary branch")


@pytest.fixture
def pooled(register) -> None:
    register(PooledModels(), name="pooled-models")


def _fit(target: str, config: str, pm, tmp_path, *overrides: str):
    cfg = load_train_config(target, config, list(overrides), pm=pm)
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.path.mkdir(parents=True, exist_ok=True)
    run_dir.write_config(cfg)
    return Trainer(cfg, run_dir, pm=pm).fit()


def test_single_value_norms_names_the_layers_that_would_fail_and_changes_nothing(pooled):
    model = PooledFCN(4).train()
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    assert single_value_norms(model, torch.zeros(1, 3, 16, 16)) == ["context.1"]
    assert single_value_norms(model, torch.zeros(2, 3, 16, 16)) == []
    assert model.training and all(torch.equal(v, model.state_dict()[k]) for k, v in stats.items())
    with pytest.raises(ValueError, match="more than 1 value per channel"):  # what it foresees
        model(torch.zeros(1, 3, 16, 16))


def test_single_value_norms_foresees_the_training_failure_of_every_registered_model(pm):
    from gasnas.api.model import is_single_value_norm_error

    x = torch.zeros(1, 3, 64, 128)
    for component in pm.registry("models"):
        model = component.build(4, component.default_options())
        foreseen = bool(single_value_norms(model, x))
        try:
            model.train()(x)
            failed = False
        except ValueError as exc:
            failed = is_single_value_norm_error(exc)
        assert foreseen == failed, component.name


def test_batch_1_trains_a_model_that_allows_it(tiny_fcn, train_yaml, pm, tmp_path):
    result = _fit("tiny-fcn", train_yaml(epochs=1, batch_size=1, steps_per_epoch=3), pm, tmp_path)
    records = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["loss"] > 0 and result.best_epoch == 0


def test_batch_1_of_a_model_that_cannot_is_refused_before_training(pooled, train_yaml, cli, tmp_path):
    result = cli("train", "pooled-fcn", "--config", train_yaml(epochs=1), "--batch-size", "1", "--name", "b1")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "Traceback" not in text
    assert "train.batch_size is 1, so every training step sees one image" in text
    assert "(layer context.1)" in text and "set train.batch_size (--batch-size) to 2 or more" in text
    assert not (tmp_path / "runs/b1/metrics.jsonl").exists()  # no epoch ran


def test_a_train_split_of_one_image_is_refused_for_such_a_model(pooled, train_yaml, pm, tmp_path):
    with pytest.raises(ConfigError, match=r"the train split of dataset 'digit-scenes' holds a single image.*give the "
                                          r"dataset more training images"):
        _fit("pooled-fcn", train_yaml(epochs=1), pm, tmp_path, "dataset.params.train_size=1")


def test_a_pooled_branch_seen_only_in_training_is_caught_at_the_first_step(pooled, train_yaml, pm, tmp_path):
    with pytest.raises(ConfigError, match=r"a training batch of 1 image reached a batch-norm layer on a 1 x 1 map.*"
                                          r"set train.batch_size \(--batch-size\) to 2 or more"):
        _fit("pooled-aux-fcn", train_yaml(epochs=1, batch_size=1), pm, tmp_path)
    assert not (tmp_path / "run/metrics.jsonl").exists()


def test_an_empty_train_split_is_refused(toys, tiny_fcn, train_yaml, pm, tmp_path):
    """The only way a training takes no step (a split smaller than a batch trains as one batch)."""
    with pytest.raises(DataError, match=r"split 'train' is empty"):
        _fit("tiny-fcn", train_yaml(epochs=1), pm, tmp_path, "dataset={name: blobs, params: {size: 0}}")


def _rectangles_yaml(tmp_path, **train) -> str:
    path = tmp_path / "rectangles.yaml"
    path.write_text(yaml.safe_dump({"dataset": {"name": "rectangles"}, "output": str(tmp_path / "runs"),
                                    "device": "cpu", "train": {"batch_size": 8, "optimizer": "adamw", **train}}))
    return str(path)


def test_a_network_that_learned_nothing_says_so_in_the_table_and_summary(rectangles, tiny_fcn, cli, tmp_path):
    config = _rectangles_yaml(tmp_path, epochs=1, steps_per_epoch=1, lr=1e-6)
    result = cli("train", "tiny-fcn", "--config", config, "--name", "nothing")
    assert result.exit_code == 0, result.output
    text = " ".join(re.sub(r"[│┃|]", " ", result.output).split())
    assert "training finished with 1 warning(s)" in text and " warning the best val_miou (" in text
    summary = json.loads((tmp_path / "runs/nothing/summary.json").read_text())
    assert summary["best"] < summary["background"] + 0.02
    assert len(summary["warnings"]) == 1 and "is not clearly above the all-background score" in summary["warnings"][0]


def test_a_network_that_learned_has_no_warning(rectangles, tiny_fcn, pm, tmp_path):
    result = _fit("tiny-fcn", _rectangles_yaml(tmp_path, epochs=4, lr=0.01), pm, tmp_path)
    assert result.best > result.background + 0.2 and result.warnings == []
