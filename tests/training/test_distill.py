"""Distillation in gasnas train: the student's loss holds the teacher's term, the student trains, and a teacher that
does not fit is refused clearly."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gasnas.errors import ConfigError
from gasnas.run import RunDirectory
from gasnas_plugins.training.config import TrainConfig, load_train_config
from gasnas_plugins.training.distill import Teacher, distillation_loss
from gasnas_plugins.training.options import DistillOptions
from gasnas_plugins.training.trainer import Trainer, make_loader


def _trainer(config, path, pm) -> Trainer:
    run_dir = RunDirectory(path)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    run_dir.write_config(config)
    return Trainer(config, run_dir, pm=pm)


@pytest.fixture
def teacher_run(tiny_fcn, train_yaml, pm, tmp_path):
    """A tiny-fcn teacher trained for an epoch: its run directory."""
    config = load_train_config("tiny-fcn", train_yaml(epochs=1), ["model.params.width=16"], pm=pm)
    _trainer(config, tmp_path / "teacher", pm).fit()
    return tmp_path / "teacher"


def test_the_loss_is_hintons_softened_kl_times_t_squared():
    s, t = torch.randn(2, 5, 3, 4), torch.randn(2, 5, 3, 4)
    for temperature in (1.0, 4.0):
        expected = F.kl_div(F.log_softmax(s / temperature, 1), F.log_softmax(t / temperature, 1), log_target=True,
                            reduction="none").sum(1).mean() * temperature ** 2
        assert torch.allclose(distillation_loss(s, t, temperature), expected)
    assert float(distillation_loss(t, t, 2.0)) == pytest.approx(0.0, abs=1e-6)


def test_the_distilled_students_loss_includes_the_teacher_term_and_it_trains(teacher_run, train_yaml, pm, tmp_path):
    path = train_yaml(epochs=3)
    distilled = load_train_config("tiny-fcn", path, [f"train.distill={{teacher: {teacher_run}, temperature: 2, "
                                                     "weight: 0.5}"], pm=pm)
    plain = load_train_config("tiny-fcn", path, pm=pm)
    assert distilled.to_dict()["train"]["distill"]["teacher"] == str(teacher_run)
    assert "distill" not in plain.to_dict()["train"]  # runs without distillation keep their digest

    # one step from the same weights on the same batch, with and without the teacher: the losses differ by its term
    trainer = _trainer(distilled, tmp_path / "steps", pm)
    trainer._build()
    assert not trainer.teacher.network.training
    assert not any(p.requires_grad for p in trainer.teacher.network.parameters())
    images, labels = next(iter(make_loader(trainer.train_data, batch_size=4, train=True, seed=0)))
    start = copy.deepcopy(trainer.model.state_dict())
    with torch.no_grad():
        expected = 0.5 * distillation_loss(trainer.model(images), trainer.teacher.network(images), 2.0)
    with_teacher = float(trainer._step(images, labels).detach())
    trainer.model.load_state_dict(start)
    trainer.teacher = None
    without = float(trainer._step(images, labels).detach())
    assert float(expected) > 1e-3
    assert with_teacher - without == pytest.approx(float(expected), rel=1e-4)

    # and the distilled student trains: the logged distillation term and the total loss fall
    result = _trainer(distilled, tmp_path / "run", pm).fit()
    records = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert all(r["distill_loss"] > 0 for r in records)
    assert records[-1]["loss"] < records[0]["loss"]
    assert records[-1]["distill_loss"] < records[0]["distill_loss"]
    assert result.best > 0


def test_a_teacher_that_does_not_fit_is_refused(teacher_run, rectangles, train_yaml, pm, tmp_path):
    with pytest.raises(ConfigError, match=r"train.distill.teacher: .*nowhere: no teacher there"):
        load_train_config("tiny-fcn", train_yaml(), [f"train.distill.teacher={tmp_path / 'nowhere'}"], pm=pm)
    with pytest.raises(ConfigError, match=r"train.distill.teacher: required"):
        load_train_config("tiny-fcn", train_yaml(), ["train.distill={weight: 2}"], pm=pm)
    with pytest.raises(ConfigError, match=r"train.distill.temperature: 0 is out of range"):
        load_train_config("tiny-fcn", train_yaml(), [f"train.distill={{teacher: {teacher_run}, temperature: 0}}"],
                          pm=pm)
    # the teacher predicts digit-scenes' 11 classes; the rectangles have 4
    config = load_train_config("tiny-fcn", train_yaml(), ["dataset={name: rectangles}",
                                                          f"train.distill.teacher={teacher_run}"], pm=pm)
    with pytest.raises(ConfigError, match=r"predicts 11 classes, the student's dataset has 4"):
        _trainer(config, tmp_path / "bad", pm).fit()
    # a teacher whose output is not at the student's size
    teacher = Teacher(nn.Conv2d(3, 11, 1, stride=2), DistillOptions(teacher="t.pt"), "t.pt")
    with pytest.raises(ConfigError, match=r"the teacher's output \(1, 11, 16, 32\) does not match the student's "
                                          r"\(1, 11, 32, 64\)"):
        teacher.term(torch.zeros(1, 3, 32, 64), torch.zeros(1, 11, 32, 64))


def test_resuming_a_distilled_run_keeps_its_teacher(teacher_run, train_yaml, pm, tmp_path):
    config = load_train_config("tiny-fcn", train_yaml(epochs=1), [f"train.distill.teacher={teacher_run}"], pm=pm)
    _trainer(config, tmp_path / "run", pm)
    again = TrainConfig.from_run(tmp_path / "run", pm)
    assert again.train.distill == config.train.distill and again.digest == config.digest
    assert load_train_config("tiny-fcn", train_yaml(), ["train.distill=null"], pm=pm).train.distill is None


def test_the_cli_shorthand(teacher_run, train_yaml, cli, tmp_path):
    result = cli("train", "tiny-fcn", "-c", train_yaml(epochs=1, steps_per_epoch=1), "--teacher", str(teacher_run),
                 "--name", "cli")
    assert result.exit_code == 0, result.output
    assert "distilling from the teacher" in result.output
    record = json.loads((tmp_path / "runs/cli/metrics.jsonl").read_text().splitlines()[0])
    assert record["distill_loss"] > 0
