"""``gasnas train --init PATH``: weights people bring -- torchvision's ResNet-18 into bisenetv1-r18's backbone, a
gasnas best.pt, and files that do not fit, strictly refused or partially loaded with every key reported."""

from __future__ import annotations

import json

import torch

from gasnas.run import load_checkpoint
from toy_models import TinyFCN
from torchvision_resnet import BATCHES_TRACKED, gasnas_key, resnet18_state

SMALL_BISENET = ["--set", "model.params.spatial_channels=8", "--set", "model.params.context_channels=8",
                 "--set", "model.params.head_channels=8", "--set", "model.params.aux_heads=false"]


def test_init_loads_torchvisions_resnet18_into_the_backbone_of_bisenetv1_r18(pm, train_yaml, cli, tmp_path):
    state = resnet18_state()
    torch.save(state, tmp_path / "resnet18.pt")
    config = train_yaml(epochs=1, steps_per_epoch=1, lr=1e-30, momentum=0.0)  # one step that moves no weight
    result = cli("train", "bisenetv1-r18", "--config", config, "--init", str(tmp_path / "resnet18.pt"),
                 "--name", "r18", *SMALL_BISENET)
    assert result.exit_code == 0, result.output
    assert "120 tensors fit in the torchvision-resnet layout into backbone" in " ".join(result.output.split())

    run = tmp_path / "runs/r18"
    report = json.loads((run / "init.json").read_text())
    assert report["layout"] == "torchvision-resnet" and report["mode"] == "strict"
    assert report["dropped"] == ["fc.weight", "fc.bias"] and not report["missing"] and not report["unexpected"]
    trained = load_checkpoint(run / "checkpoint.pt")["state_dict"]
    for key, value in state.items():
        ours = gasnas_key(key)
        if ours is None or "running_" in key:  # the training step updated the BatchNorm statistics
            continue
        expected = value + 1 if key.endswith("num_batches_tracked") else value
        assert torch.equal(trained[ours], expected), key
    assert int(trained["backbone.stem.0.bn.num_batches_tracked"]) == BATCHES_TRACKED + 1


def test_init_strict_names_what_does_not_fit_and_partial_loads_the_rest(tiny_fcn, train_yaml, cli, tmp_path):
    state = TinyFCN(11).state_dict()
    del state["body.1.running_var"]
    state["head.weight"] = torch.zeros(5, 8, 1, 1)  # trained for 5 classes, digit-scenes has 11
    state["extra.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "other.pt")
    config = train_yaml(epochs=1, steps_per_epoch=1)
    args = ["train", "tiny-fcn", "--config", config, "--init", str(tmp_path / "other.pt")]

    result = cli(*args, "--name", "strict")
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    for part in ("missing keys: body.1.running_var", "unexpected keys: extra.weight", "shape mismatches: head.weight",
                 "--init-mode partial"):
        assert part in text, result.output

    result = cli(*args, "--init-mode", "partial", "--name", "partial")
    assert result.exit_code == 0, result.output
    assert "tensors fit in its own layout" in " ".join(result.output.split())
    report = json.loads((tmp_path / "runs/partial/init.json").read_text())
    assert report["mode"] == "partial" and report["missing"] == ["body.1.running_var"]
    assert report["unexpected"] == ["extra.weight"] and report["mismatched"][0]["key"] == "head.weight"
    assert "head.weight" not in report["loaded"] and "body.0.weight" in report["loaded"]


def test_init_from_a_gasnas_checkpoint_and_mistakes(tiny_fcn, train_yaml, cli, tmp_path):
    config = train_yaml(epochs=1, steps_per_epoch=1)
    assert cli("train", "tiny-fcn", "--config", config, "--name", "first").exit_code == 0
    result = cli("train", "tiny-fcn", "--config", config, "--init", str(tmp_path / "runs/first/best.pt"),
                 "--name", "second")
    assert result.exit_code == 0, result.output
    assert "tensors fit in its own layout" in " ".join(result.output.split())
    assert not json.loads((tmp_path / "runs/second/init.json").read_text())["missing"]

    result = cli("train", "tiny-fcn", "--config", config, "--init", str(tmp_path / "nowhere.pt"), "--name", "gone")
    assert result.exit_code == 2 and "train.init" in result.output and "does not exist" in result.output
    assert not (tmp_path / "runs/gone").exists()  # refused before the run directory is made
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    result = cli("train", "tiny-fcn", "--config", config, "--init", str(tmp_path / "corrupt.pt"))
    assert result.exit_code == 2 and "cannot be read" in result.output and "Traceback" not in result.output
    result = cli("train", "--resume", str(tmp_path / "runs/first"), "--init", str(tmp_path / "corrupt.pt"))
    assert result.exit_code == 2 and "--resume continues a run with its own config" in result.output
