"""The train, eval, export and benchmark commands end to end on a tiny model and tiny digit scenes."""

from __future__ import annotations

import json

import pytest
from PIL import Image


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """A finished ``gasnas train`` run of tiny-fcn (trained once for this module)."""
    from click.testing import CliRunner

    from gasnas.cli import main
    from gasnas.plugins import PluginManager, set_plugin_manager
    from toy_models import ToyModels, tiny_scenes

    root = tmp_path_factory.mktemp("trained")
    manager = PluginManager()
    manager.add(ToyModels(), name="toy-models")
    set_plugin_manager(manager)
    try:
        result = CliRunner().invoke(main, [
            "train", "tiny-fcn", "--epochs", "2", "--batch-size", "4", "--device", "cpu", "--output", str(root),
            "--name", "run", *(f"--set=dataset.params.{k}={v}" for k, v in tiny_scenes(root / "cache").items())])
    finally:
        set_plugin_manager(None)
    assert result.exit_code == 0, result.output
    return root / "run"


@pytest.fixture
def trained(trained_once, tiny_fcn, tmp_path):
    """A copy of the finished run, with tiny-fcn registered for this test."""
    import shutil

    return shutil.copytree(trained_once, tmp_path / "run")


def test_train_writes_a_run_directory(trained, cli):
    names = {p.name for p in trained.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "checkpoint.pt", "best.pt", "curves.png", "summary.json"} <= names
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["metric"] == "val_miou" and 0 <= summary["best"] <= 1
    again = cli("train", "--resume", str(trained))  # already finished: nothing left to do
    assert again.exit_code == 0, again.output
    assert len((trained / "metrics.jsonl").read_text().splitlines()) == 2


def test_train_from_a_config_file(tiny_fcn, train_yaml, cli, tmp_path):
    result = cli("train", "tiny-fcn", "--config", train_yaml(epochs=1, steps_per_epoch=1), "--name", "cfg")
    assert result.exit_code == 0, result.output
    assert "training finished" in result.output and (tmp_path / "runs/cfg/best.pt").is_file()


def test_train_shorthands_and_mistakes(tiny_fcn, cli, tmp_path):
    result = cli("train")
    assert result.exit_code == 2 and "missing TARGET" in result.output
    result = cli("train", "tiny-fc")
    assert result.exit_code == 2 and "did you mean 'tiny-fcn'?" in result.output
    result = cli("train", "tiny-fcn", "--set", "train.epocs=1")
    assert result.exit_code == 2 and "unknown key 'epocs'" in result.output
    result = cli("train", "--resume", str(tmp_path), "--epochs", "3")
    assert result.exit_code == 2 and "--resume continues a run with its own config" in result.output
    result = cli("train", "--resume", str(tmp_path / "nothing"))
    assert result.exit_code == 2 and "not a gasnas train run directory" in result.output


def test_eval_prints_per_class_iou_and_draws_pictures(trained, cli):
    result = cli("eval", str(trained / "best.pt"), "--samples", "2")
    assert result.exit_code == 0, result.output
    assert "background" in result.output and "digit 9" in result.output and "miou" in result.output
    for name in ("eval-val-confusion.png", "eval-val-predictions.png"):
        with Image.open(trained / name) as picture:
            assert picture.format == "PNG" and picture.width > 300 and picture.height > 200
    report = json.loads((trained / "eval-val.json").read_text())
    assert set(report["per_class"]) == {"background", *(f"digit {d}" for d in range(10))}
    assert 0 <= report["metrics"]["miou"] <= 1


def test_eval_with_flip_and_scales_on_another_split(trained, cli, tmp_path):
    result = cli("eval", str(trained), "--split", "test", "--flip", "--scales", "0.5,1", "--samples", "0",
                 "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out/eval-test.json").is_file() and not (tmp_path / "out/eval-test-predictions.png").exists()


def test_eval_of_a_missing_or_corrupt_checkpoint(tiny_fcn, cli, tmp_path):
    result = cli("eval", str(tmp_path / "none.pt"))
    assert result.exit_code == 2 and "checkpoint not found" in result.output
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    result = cli("eval", str(tmp_path / "bad.pt"))
    assert result.exit_code == 2 and "corrupt or unreadable checkpoint" in result.output


def test_eval_of_a_checkpoint_that_is_not_a_trained_network(tiny_fcn, cli, tmp_path):
    from gasnas.run import RunDirectory

    RunDirectory(tmp_path).save_checkpoint({"epoch": 0, "state": {}})
    result = cli("eval", str(tmp_path / "checkpoint.pt"))
    assert result.exit_code == 2 and "not a trained-network checkpoint" in result.output


def test_eval_with_moved_data_points_at_the_new_place(trained, cli, tmp_path):
    result = cli("eval", str(trained), "--set", "dataset.name=cityscapes",
                 "--set", f"dataset.params={{root: {tmp_path / 'nowhere'}}}")
    assert result.exit_code == 2 and "Cityscapes root not found" in result.output


def test_export_verifies_against_torch(trained, cli):
    result = cli("export", str(trained), "--format", "onnx", "--dynamic-batch", "--dynamic-size")
    assert result.exit_code == 0, result.output
    assert (trained / "model.onnx").is_file()
    assert "max abs difference" in result.output and "1x3x32x64" in result.output and "largest |logit|" in result.output
    assert "2x3x32x64" in result.output and "1x3x32x32" in result.output  # the dynamic axes were checked

    import onnx

    model = onnx.load(str(trained / "model.onnx"))
    assert model.opset_import[0].version >= 17


def test_export_fails_above_the_tolerance_and_writes_nothing(trained, cli, monkeypatch, tmp_path):
    import importlib

    module = importlib.import_module("gasnas_plugins.commands.export")
    monkeypatch.setattr(module, "verify_onnx", lambda *a, **k: (0.5, 20.0))
    result = cli("export", str(trained), "-o", str(tmp_path / "m.onnx"))
    assert result.exit_code == 2
    assert "differs from torch by up to 0.5, above the allowed 0.002 (--tolerance 0.0001" in result.output
    assert not (tmp_path / "m.onnx").exists()
    result = cli("export", str(trained), "--opset", "11")
    assert result.exit_code == 2 and "opset 11 is too old" in result.output


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_benchmark_states_how_it_measured(trained, cli, runtime, tmp_path):
    out = tmp_path / "bench.json"
    result = cli("benchmark", str(trained / "best.pt"), "--runtime", runtime, "--device", "cpu", "--warmup", "1",
                 "--repeats", "3", "--threads", "1", "--json", str(out))
    assert result.exit_code == 0, result.output
    for text in ("median", "p90", "p99", "FPS", "threads", "1x3x32x64"):
        assert text in result.output
    data = json.loads(out.read_text())
    assert data["runtime"] == runtime and data["threads"] == 1 and data["repeats"] == 3 and data["fps"] > 0
    assert data["provider"] == ("eager" if runtime == "torch" else "CPUExecutionProvider")


def test_benchmark_a_model_name_and_mistakes(tiny_fcn, cli):
    result = cli("benchmark", "tiny-fcn", "--input", "1x3x32x32", "--num-classes", "3", "--device", "cpu",
                 "--warmup", "0", "--repeats", "2")
    assert result.exit_code == 0, result.output and "model 'tiny-fcn'" in result.output
    result = cli("benchmark", "tiny-fcn", "--input", "3x32x32")
    assert result.exit_code == 2 and "expected NxCxHxW" in result.output
    result = cli("benchmark", "tiny-fcn", "--dtype", "fp16", "--device", "cpu", "--input", "1x3x32x32")
    assert result.exit_code == 2 and "fp16 timing needs a CUDA device" in result.output
