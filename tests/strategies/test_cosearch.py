"""Teacher-student co-search: two architectures over one supernet, both trained in one search, both exported."""

from __future__ import annotations

import copy

import pytest
import torch

from gasnas.architecture import Architecture
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import ConfigError, IncompatibleComponentsError
from gasnas.reporting import NullReporter
from gasnas_plugins.training.network import resolve_target

#: fasterseg-tiny, narrowed, on the rectangles (seconds on a CPU); MACs as the differentiable cost
CONFIG = """\
seed: 0
threads: 1
output: {output}
dataset: {{name: rectangles}}
space: {{name: fasterseg, params: {{preset: fasterseg-tiny, layers: 3, channels: 8, stem_channels: 8,
                                  head_channels: 8, ops: [skip, conv], widths: [4, 12]}}}}
communicator: {{name: none}}
strategy: {{name: cosearch, params: {{relaxation: softmax, warmup_epochs: 1, arch_lr: 0.05, top_k: 2,
                                    val_batches: 1, latency_loss: linear, beta: 2.0}}}}
latency: {{name: flops}}
evaluator: {{name: test-miou}}
budget: {{epochs: 3, batch_size: 8}}
"""


@pytest.fixture
def cosearch_config(tmp_path, rectangles):
    path = tmp_path / "cosearch.yaml"
    path.write_text(CONFIG.format(output=tmp_path / "runs"))
    return path


def _search(config, *overrides):
    engine = Engine(load_config(config, list(overrides)), reporter=NullReporter())
    return engine, engine.run()


def _widths(space, sample):
    return [sample[label] for label in space.canonical(sample) if label.endswith("/width")]


def test_cosearch_trains_both_architectures_and_exports_both(cosearch_config, monkeypatch, pm):
    from gasnas_plugins.strategies.differentiable.cosearch import CoSearch

    moved = []  # the teacher's architecture parameters after each of its steps
    real_step = CoSearch.arch_step

    def arch_step(self, *args):
        stats = real_step(self, *args)
        moved.append([a.detach().clone() for a in self.teacher.arch.alpha])
        return stats

    monkeypatch.setattr(CoSearch, "arch_step", arch_step)
    engine, result = _search(cosearch_config)
    run = engine.run_dir.path
    strategy = engine.strategy

    # both architecture sets were trained in the same search
    assert len(moved) >= 2 and any(not torch.equal(a, b) for a, b in zip(moved[0], moved[-1]))
    assert any(float(a.detach().abs().max()) > 0 for a in strategy.arch.alpha)
    teacher_keys = set(strategy.teacher.arch.keys)
    assert teacher_keys and not any(k.endswith("/width") for k in teacher_keys)
    assert teacher_keys | {c.key for c in strategy.supernet.relaxed_choices() if c.granularity == "width"} == set(
        strategy.arch.keys)

    # the student is the run's architecture; the teacher is at full width, next to it
    student = Architecture.load(run / "architecture.yaml")
    teacher = Architecture.load(run / "teacher/architecture.yaml")
    assert student == result.best and student.metadata["role"] == "student"
    assert teacher.metadata["role"] == "teacher" and teacher.space_name == "fasterseg"
    engine.space.validate(teacher.sample)
    assert set(_widths(engine.space, teacher.sample)) == {12}
    # the latency term pushes the student's widths down; the teacher has none
    assert sum(_widths(engine.space, student.sample)) < sum(_widths(engine.space, teacher.sample))
    shape = tuple(student.metadata["input_shape"])
    cost = {a.metadata["role"]: engine.latency.estimate(engine.space, a.sample, shape) for a in (student, teacher)}
    assert cost["teacher"] > cost["student"]  # unrounded GMACs
    assert teacher.metadata["estimated_latency"] == round(cost["teacher"], 4)
    assert result.files["teacher_architecture"] == run / "teacher/architecture.yaml"
    # gasnas train RUN_DIR trains the student; gasnas train RUN_DIR/teacher the teacher
    assert resolve_target(str(run), pm).architecture == student
    assert resolve_target(str(run / "teacher"), pm).architecture == teacher
    assert list((run / "teacher/cells").glob("*.png"))

    # both are logged per epoch and in the result
    records = engine.run_dir.read_metrics()
    assert {"teacher_ce", "teacher_arch_ce", "teacher_val_miou", "val_miou"} <= set(records[-1])
    assert "teacher_val_miou" in result.metrics

    assert records[-1]["teacher_entropy"] < 1  # over the teacher's own choices (its held widths left out)

    # the teacher trains as a network of its own (and so can be a distillation teacher)
    net = engine.space.build(teacher.sample, 4)
    assert net(torch.zeros(2, 3, 32, 64)).shape == (2, 4, 32, 64)

    # a checkpoint holds the teacher's state: a resumed search continues it
    state = copy.deepcopy(strategy.state_dict())  # as a checkpoint on disk holds it
    saved = [a.detach().clone() for a in strategy.teacher.arch.alpha]
    with torch.no_grad():
        for a in strategy.teacher.arch.alpha:
            a.zero_()
    strategy.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(strategy.teacher.arch.alpha, saved))
    assert state["teacher"]["arch_opt"]["state"]  # Adam's moments of the teacher's steps


def test_a_space_without_width_choices_is_refused_naming_it(gas_config):
    with pytest.raises(IncompatibleComponentsError, match=r"strategy 'cosearch' needs a space with width choices.*"
                                                          r"space 'gas' has none"):
        _search(gas_config, "strategy.name=cosearch", "communicator.name=none", "latency=null", "budget.epochs=2")


def test_cosearch_needs_the_bilevel_split(cosearch_config):
    with pytest.raises(ConfigError, match="strategy.params.bilevel: co-search trains both architectures"):
        load_config(cosearch_config, ["strategy.params.bilevel=false"])
