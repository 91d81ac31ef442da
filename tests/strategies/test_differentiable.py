from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gasnas.architecture import Architecture
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import ConfigError, LatencyError
from gasnas.reporting import NullReporter

TESTS = Path(__file__).resolve().parents[1]


def _search(config: Path, *overrides: str):
    engine = Engine(load_config(config, list(overrides)), reporter=NullReporter())
    return engine, engine.run()


def test_search_end_to_end_writes_architectures_pictures_and_latencies(gas_config):
    engine, result = _search(gas_config)
    run = engine.run_dir.path
    best = Architecture.load(run / "architecture.yaml")
    assert best == result.best and best.space_name == "gas"
    engine.space.validate(best.sample)
    assert best.metadata["estimated_latency"] > 0 and best.metadata["measured_latency"] > 0
    assert "onnxruntime" in best.metadata["measured_with"]
    assert len(list((run / "architectures").glob("top*.yaml"))) == 3
    assert sorted(p.name for p in (run / "cells").glob("*.png")) == ["cell0.png", "cell1.png", "cell2.png"]
    scores = [a.metadata["log_probability"] for a in result.architectures]
    assert scores == sorted(scores, reverse=True)
    assert "val_miou" in result.metrics and "expected_latency_ms" in result.metrics


@pytest.mark.parametrize("params", [
    "{relaxation: softmax}", "{relaxation: gumbel, bilevel: false}", "{weight_optimizer: adamw, resize: 0.5}"])
def test_relaxations_and_modes_run(gas_config, params):
    _, result = _search(gas_config, f"strategy.params={{warmup_epochs: 1, top_k: 2, val_batches: 1, "
                                    f"{params[1:-1]}}}", "budget.epochs=2", "communicator.name=none")
    assert len(result.architectures) == 2


def test_raising_beta_lowers_the_derived_latency(gas_config):
    # counted MACs (the flops estimator) as the cost: the same differentiable term as a timed table, without
    # the timing noise of a loaded machine deciding the outcome
    def derived(beta: float) -> float:
        engine, result = _search(gas_config, f"strategy.params.beta={beta}", "strategy.params.arch_lr=0.05",
                                 "strategy.params.relaxation=softmax", "budget.epochs=4", "latency.measure=null",
                                 "latency.name=flops", "latency.params={}")
        shape = tuple(result.best.metadata["input_shape"])
        return engine.latency.estimate(engine.space, result.best.sample, shape)  # unrounded GMACs

    free, constrained = derived(0.0), derived(20.0)
    assert constrained < 0.85 * free, (free, constrained)


def test_target_losses_need_a_target_and_estimators_must_be_differentiable(gas_config):
    with pytest.raises(ConfigError, match="strategy.params.latency_loss: 'hinge' needs a latency target: set "
                                          "latency.target"):  # at load time, before any epoch
        load_config(gas_config, ["strategy.params.latency_loss=hinge", "strategy.params.beta=1"])
    with pytest.raises(ConfigError, match=r"strategy.params.warmup_epochs: 5 warm-up epochs leave no search epoch "
                                          r"in budget.epochs \(5\)"):
        load_config(gas_config, ["strategy.params.warmup_epochs=5", "budget.epochs=5"])
    with pytest.raises(ConfigError, match="strategy.params.beta: a latency term needs a latency section"):
        load_config(gas_config, ["latency=null", "strategy.params.beta=1", "strategy.params.latency_loss=linear"])
    _search(gas_config, "strategy.params.latency_loss=hinge", "strategy.params.beta=1", "latency.target_ms=0.2",
            "budget.epochs=2")
    with pytest.raises(LatencyError, match="cannot give a differentiable expected latency"):
        _search(gas_config, "latency.name=onnxruntime", "latency.params={}", "strategy.params.beta=1")


def _cli(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gasnas.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_uninterrupted_architecture(gas_config, tmp_path):
    env = {**os.environ, "GASNAS_PLUGINS": "toy_scenes", "PYTHONPATH": str(TESTS), "GASNAS_DISABLE_PLUGINS": "runs"}
    common = ["--set", "budget.epochs=6", "--set", "latency.measure=null", "--set", "strategy.params.beta=1"]
    full = _cli("search", str(gas_config), "--name", "full", *common, env=env)
    out, _ = full.communicate(timeout=600)
    assert full.returncode == 0, out
    killed = _cli("search", str(gas_config), "--name", "killed", *common, env=env)
    checkpoint = tmp_path / "runs" / "killed" / "checkpoint.pt"
    deadline = time.time() + 300
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    assert killed.poll() is None, "the search ended before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    resumed = _cli("search", "--resume", str(tmp_path / "runs" / "killed"), env=env)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    a = yaml.safe_load((tmp_path / "runs" / "full" / "architecture.yaml").read_text())
    b = yaml.safe_load((tmp_path / "runs" / "killed" / "architecture.yaml").read_text())
    assert a["sample"] == b["sample"] and a["id"] == b["id"]
    epochs = [yaml.safe_load(line)["epoch"] for line in (tmp_path / "runs" / "killed" / "metrics.jsonl").open()]
    assert epochs == list(range(6))


# -- what a search must do, on a task small enough for a test: learn, avoid the skip collapse, meet the target ----

LEARNING = ["strategy.params={relaxation: sampled, warmup_epochs: 2, arch_lr: 0.1, top_k: 2, val_batches: 1}",
            "budget.epochs=10", "latency.name=flops", "latency.params={}", "latency.measure=null",
            "dataset.params={train: 64, val: 8}"]


def test_a_search_learns_decides_and_does_not_collapse_to_skips(gas_config):
    """Counted MACs (no timing decides this test); the default target (the median of random architectures)."""
    engine, result = _search(gas_config, *LEARNING, "latency.target_relative=1.0")
    records = [yaml.safe_load(line) for line in (engine.run_dir.path / "metrics.jsonl").open()]
    entropy = [r["entropy"] for r in records]
    assert entropy[1] > 0.999  # the warm-up leaves the architecture uniform
    assert entropy[-1] < 0.97 and result.metrics["decided"] == 1.0  # it learned which candidates help (0.95 here)
    reliability = [r.get("edge_reliability") for r in records]  # known once both halves hold evidence
    assert reliability[:2] == [None, None] and 0.0 <= reliability[-1] <= 1.0
    assert result.metrics["edge_reliability"] == reliability[-1]
    assert all(r["communication"] >= 0 for r in records) and "communication" in result.metrics  # the gcn's share
    ops = [v for k, v in result.best.sample.items() if "/op_" in k]
    assert ops.count("skip_connect") <= len(ops) / 3
    assert not result.warnings


def test_moving_the_target_moves_the_derived_latency(gas_config):
    def derived(target: float) -> float:
        engine, result = _search(gas_config, *LEARNING, f"latency.target_relative={target}")
        shape = tuple(result.best.metadata["input_shape"])
        assert engine.latency_target == pytest.approx(target * engine.reference_latency(shape))
        assert result.best.metadata["latency_target"] == pytest.approx(engine.latency_target, abs=1e-4)
        macs = engine.latency.estimate(engine.space, result.best.sample, shape)
        assert macs <= engine.latency_target * (1 + 1e-6)  # the derivation meets the target
        return macs / engine.latency_target

    low, high = derived(0.8), derived(1.25)
    assert low > 0.9 and high > 0.9  # close to each target from below: the budget is used


def test_a_search_left_undecided_says_so(gas_config):
    _, result = _search(gas_config, *LEARNING, "strategy.params.arch_lr=0.00001", "latency.target_relative=1.0")
    assert result.metrics["decided"] == 0.0
    assert result.warnings and "decided by noise" in result.warnings[0]


def test_a_search_whose_loss_turns_nan_stops_keeps_its_last_checkpoint_and_derives_nothing(gas_config,
                                                                                           monkeypatch):
    from gasnas.errors import DivergedError
    from gasnas.run import load_checkpoint
    from gasnas_plugins.strategies.differentiable import strategy as module

    real = module.DifferentiableSearch.weight_step

    def nan_in_epoch_1(self, images, labels, epoch, latency=False):
        out = real(self, images, labels, epoch, latency)
        return {**out, "ce": float("nan")} if epoch == 1 else out

    monkeypatch.setattr(module.DifferentiableSearch, "weight_step", nan_in_epoch_1)
    engine = Engine(load_config(gas_config, ["budget.epochs=3"]), reporter=NullReporter())
    with pytest.raises(DivergedError, match=r"epoch 1, step 0: ce is nan; the run stopped and its last good "
                                            r"checkpoint is kept; lower strategy.params.weight_lr"):
        engine.run()
    run = engine.run_dir.path
    assert not (run / "architecture.yaml").exists()
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 0


def test_the_engine_refuses_to_checkpoint_a_non_finite_state():
    import torch

    from gasnas.engine import _non_finite_tensor

    state = {"supernet": {"w": torch.ones(3)}, "arch": [torch.zeros(2), torch.tensor([0.0, float("inf")])],
             "step": 3, "lengths": torch.tensor([1, 2])}
    assert _non_finite_tensor(state) == "arch.1"
    state["arch"][1][1] = 0.0
    assert _non_finite_tensor(state) is None


def test_a_crash_inside_a_plugin_names_the_plugin_and_the_run(gas_config, monkeypatch):
    """A bug in the latency estimator during the search: the error names it and the run, not a bare traceback."""
    from gasnas.errors import PluginError

    import sys
    import types

    config = load_config(gas_config, ["budget.epochs=2"])
    engine = Engine(config, reporter=NullReporter())
    estimator = engine.pm.registry("latency estimators").get(config.latency.name).load()

    def expected(self, *args, **kwargs):
        return {}["boom"]

    # the bug lives in the estimator's own module, as a real one would
    broken = types.FunctionType(expected.__code__, vars(sys.modules[estimator.__module__]), "expected")
    monkeypatch.setattr(estimator, "expected", broken)
    with pytest.raises(PluginError, match=rf"plugin '.*' \(latency estimator '{config.latency.name}', section "
                                          r"latency\) crashed during the search in .*: KeyError: 'boom'; no epoch "
                                          r"had finished, so there is no checkpoint to resume; run with --debug"):
        engine.run()
