"""The train loop: metrics and checkpoints each epoch, best kept, and a resumed run equal to an uninterrupted one."""

from __future__ import annotations

import json

import pytest
import torch

from gasnas.architecture import Architecture
from gasnas.errors import CheckpointError, DivergedError, GasnasError
from gasnas.run import RunDirectory
from gasnas_plugins.training import trainer as trainer_module
from gasnas_plugins.training.checkpoint import load_trained
from gasnas_plugins.training.config import TrainConfig, load_train_config
from gasnas_plugins.training.trainer import Trainer


def _fit(config, path, pm, **kw):
    run_dir = RunDirectory(path)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    run_dir.write_config(config)
    return Trainer(config, run_dir, pm=pm, **kw).fit()


def test_trains_validates_and_checkpoints_each_epoch(tiny_fcn, train_yaml, pm, tmp_path):
    config = load_train_config("tiny-fcn", train_yaml(epochs=3), pm=pm)
    result = _fit(config, tmp_path / "run", pm)
    records = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert {"loss", "lr", "images_per_s", "val_miou", "val_pixel_acc", "elapsed_s"} <= set(records[0])
    assert records[-1]["loss"] < records[0]["loss"]
    assert result.metric == "val_miou"
    assert result.best == max(r["val_miou"] for r in records)
    assert result.best_epoch == max(range(3), key=lambda e: records[e]["val_miou"])
    best = load_trained(tmp_path / "run")  # a run directory means its best.pt
    assert best.path.name == "best.pt" and best.epoch == result.best_epoch
    assert best.metrics["val_miou"] == result.best
    assert best.spec.kind == "model" and best.spec.name == "tiny-fcn" and best.num_classes == 11
    assert best.input_size == (32, 64) and best.class_names[0] == "background"
    net = best.build(pm)
    assert net(torch.zeros(1, 3, 32, 64)).shape == (1, 11, 32, 64)


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tiny_fcn, train_yaml, pm, tmp_path, monkeypatch):
    config = load_train_config("tiny-fcn", train_yaml(epochs=3, steps_per_epoch=2), pm=pm)
    _fit(config, tmp_path / "straight", pm)

    real_save = Trainer._save

    def save_then_die(self, epoch, *args):
        real_save(self, epoch, *args)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _fit(config, tmp_path / "killed", pm)
    monkeypatch.setattr(Trainer, "_save", real_save)
    resumed_config = TrainConfig.from_run(tmp_path / "killed", pm)
    assert resumed_config.digest == config.digest
    Trainer(resumed_config, RunDirectory(tmp_path / "killed"), pm=pm, resume=True).fit()

    a = load_trained(tmp_path / "straight/checkpoint.pt").state_dict
    b = load_trained(tmp_path / "killed/checkpoint.pt").state_dict
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "killed/metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]


def test_resume_refuses_a_checkpoint_of_another_config(tiny_fcn, train_yaml, pm, tmp_path):
    config = load_train_config("tiny-fcn", train_yaml(epochs=1), pm=pm)
    _fit(config, tmp_path / "run", pm)
    other = load_train_config("tiny-fcn", train_yaml(epochs=1, lr=0.1), pm=pm)
    with pytest.raises(CheckpointError, match="written for another config"):
        Trainer(other, RunDirectory(tmp_path / "run"), pm=pm, resume=True).fit()


def test_trains_an_architecture_file(toys, train_yaml, pm, tmp_path):
    path = Architecture({"op": "conv3", "width": 4}, "tiny").save(tmp_path / "architecture.yaml")
    config = load_train_config(str(path), train_yaml(epochs=1), pm=pm)
    assert config.target.describe().startswith("architecture ") and config.target.name == "tiny"
    _fit(config, tmp_path / "run", pm)
    trained = load_trained(tmp_path / "run/best.pt")
    assert trained.spec.architecture.sample == {"op": "conv3", "width": 4}
    assert trained.build(pm)(torch.zeros(2, 3, 32, 64)).shape == (2, 11, 32, 64)


def test_auxiliary_outputs_add_their_loss(tiny_fcn, train_yaml, pm, tmp_path, monkeypatch):
    seen = []
    real = trainer_module.segmentation_loss

    def spy(model, out, target, criterion, aux_weight):
        total, parts = real(model, out, target, criterion, aux_weight)
        seen.append((set(parts), aux_weight))
        return total, parts

    monkeypatch.setattr(trainer_module, "segmentation_loss", spy)
    path = tmp_path / "cfg.yaml"
    path.write_text(open(train_yaml(epochs=1, aux_weight=0.25)).read() + "model: {params: {aux: true}}\n")
    config = load_train_config("tiny-fcn", path, pm=pm)
    _fit(config, tmp_path / "run", pm)
    assert seen and seen[0] == ({"ce", "aux0"}, 0.25)


def test_a_diverging_loss_stops_at_its_epoch_and_step_and_keeps_the_last_good_checkpoint(
        tiny_fcn, train_yaml, pm, tmp_path, monkeypatch):
    real_loss, real_epoch = trainer_module.segmentation_loss, trainer_module.Trainer._train_epoch
    state = {"epoch": 0, "calls": 0}

    def counting_epoch(self, epoch):
        state.update(epoch=epoch, calls=0)
        return real_epoch(self, epoch)

    def nan_from_the_third_step_of_epoch_2(model, out, target, criterion, aux_weight):
        loss, parts = real_loss(model, out, target, criterion, aux_weight)
        state["calls"] += 1
        return (loss * float("nan"), parts) if state["epoch"] == 1 and state["calls"] > 2 else (loss, parts)

    monkeypatch.setattr(trainer_module.Trainer, "_train_epoch", counting_epoch)
    monkeypatch.setattr(trainer_module, "segmentation_loss", nan_from_the_third_step_of_epoch_2)
    config = load_train_config("tiny-fcn", train_yaml(epochs=2), pm=pm)
    with pytest.raises(DivergedError, match=r"epoch 2, step 2: the training loss is not finite; the run stopped "
                                            r"and its last good checkpoint is kept; lower train.lr"):
        _fit(config, tmp_path / "run", pm)
    assert load_trained(tmp_path / "run/checkpoint.pt").epoch == 0  # epoch 1's checkpoint, untouched


def test_adamw_and_warmup(tiny_fcn, train_yaml, pm, tmp_path):
    config = load_train_config("tiny-fcn", train_yaml(epochs=1, optimizer="adamw", lr=0.01, warmup_steps=2),
                               pm=pm)
    result = _fit(config, tmp_path / "run", pm)
    assert result.last["lr"] < 0.01
