"""``--threads N`` on every command that computes: train, eval, export, benchmark and latency build (search's is
in tests/test_threads.py), with one meaning, and the default rule when it is not given."""

from __future__ import annotations

import json

import pytest
import torch


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """Commands set torch's thread count for the process: put it back for the tests that follow."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """A ``gasnas train --threads 2`` run of tiny-fcn (trained once for this module) and what it printed."""
    from click.testing import CliRunner

    from gasnas.cli import main
    from gasnas.plugins import PluginManager, set_plugin_manager
    from toy_models import ToyModels, tiny_scenes

    root = tmp_path_factory.mktemp("threads")
    manager = PluginManager()
    manager.add(ToyModels(), name="toy-models")
    set_plugin_manager(manager)
    before = torch.get_num_threads()
    try:
        result = CliRunner().invoke(main, [
            "train", "tiny-fcn", "--epochs", "1", "--batch-size", "4", "--device", "cpu", "--threads", "2",
            "--output", str(root), "--name", "run",
            *(f"--set=dataset.params.{k}={v}" for k, v in tiny_scenes(root / "cache").items())])
    finally:
        set_plugin_manager(None)
        torch.set_num_threads(before)
    assert result.exit_code == 0, result.output
    return root / "run", result.output


@pytest.fixture
def trained(trained_once, tiny_fcn, tmp_path):
    import shutil

    return shutil.copytree(trained_once[0], tmp_path / "run")


def test_train_computes_with_the_flag_keeps_it_in_the_checkpoint_and_resumes_with_it(trained_once, tiny_fcn, pm,
                                                                                     monkeypatch):
    from gasnas.run import RunDirectory
    from gasnas_plugins.training.config import TrainConfig
    from gasnas_plugins.training.trainer import Trainer

    run, output = trained_once
    assert "computing on cpu with 2 threads (--threads)" in output
    assert RunDirectory(run).load_checkpoint()["trainer"]["threads"] == 2
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    config = TrainConfig.from_run(run, pm)
    assert config.threads is None  # the config keeps what was asked; the checkpoint what was used
    resumed = Trainer(config, RunDirectory(run), pm=pm, resume=True)
    assert str(resumed.threads) == "2 threads (as the run started)"


def test_train_resume_takes_the_flag(trained, cli):
    result = cli("train", "--resume", str(trained), "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "computing on cpu with 1 thread (--threads)" in result.output


def test_eval_threads(trained, cli):
    result = cli("eval", str(trained), "--samples", "0", "--threads", "2")
    assert result.exit_code == 0, result.output
    assert "computing on cpu with 2 threads (--threads)" in result.output and torch.get_num_threads() == 2
    result = cli("eval", str(trained), "--samples", "0", env={"OMP_NUM_THREADS": "1"})
    assert result.exit_code == 0, result.output
    assert "computing on cpu with 1 thread (OMP_NUM_THREADS=1)" in result.output and torch.get_num_threads() == 1


def test_export_threads(trained, cli, tmp_path):
    result = cli("export", str(trained), "-o", str(tmp_path / "m.onnx"), "--threads", "2")
    assert result.exit_code == 0, result.output
    assert "2 threads (--threads)" in result.output and torch.get_num_threads() == 2


def test_benchmark_threads_default_follows_the_rule(trained, cli, tmp_path):
    out = tmp_path / "bench.json"
    result = cli("benchmark", str(trained), "--warmup", "0", "--repeats", "2", "--json", str(out),
                 env={"OMP_NUM_THREADS": "2"})
    assert result.exit_code == 0, result.output
    assert "2 threads (OMP_NUM_THREADS=2)" in result.output and json.loads(out.read_text())["threads"] == 2
    result = cli("benchmark", str(trained), "--warmup", "0", "--repeats", "2", "--json", str(out),
                 "--threads", "1", env={"OMP_NUM_THREADS": "2"})
    assert result.exit_code == 0, result.output
    assert "1 thread (--threads)" in result.output and json.loads(out.read_text())["threads"] == 1


def test_latency_build_times_with_the_runs_threads(gas_config, cli):
    """A table whose estimator leaves threads null is the table a search computing with those threads uses."""
    result = cli("latency", "build", str(gas_config), "--estimator", "flops", "--threads", "2")
    assert result.exit_code == 2 and "keeps no table" in result.output  # the options parse; flops has no table
    result = cli("latency", "build", str(gas_config), "--threads", "2", "--set", "latency.params.repeats=1",
                 "--set", "latency.params.warmup=0")
    assert result.exit_code == 0, result.output
    assert "-fp32-t2.json" in result.output and torch.get_num_threads() == 2  # the table of 2 threads
