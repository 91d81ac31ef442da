"""``gasnas data check CONFIG`` on tiny Cityscapes folders, and the start-up check of ``gasnas train``."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from data_fixtures import make_cityscapes, write_label

BAD_LABEL = "gtFine/val/frankfurt/frankfurt_000000_000019_gtFine_labelIds.png"


@pytest.fixture
def root(tmp_path):
    return make_cityscapes(tmp_path / "cityscapes")


@pytest.fixture
def config(tmp_path, root):
    """A training config on the tiny Cityscapes folder; ``config(**params)`` adds dataset params."""

    def _write(train=None, **params) -> str:
        path = tmp_path / "train.yaml"
        data = {"dataset": {"name": "cityscapes", "params": {"root": str(root), **params}},
                "output": str(tmp_path / "runs"), "device": "cpu"}
        if train:
            data["train"] = train
        path.write_text(yaml.safe_dump(data))
        return str(path)

    return _write


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_clean_data_passes_with_a_histogram(cli, config):
    result = cli("data", "check", config(augment={"crop": [16, 32]}))
    assert result.exit_code == 0, result.output
    out = _flat(result.output)
    assert "data check: cityscapes (training config" in out and "class histogram" in out
    assert "│ train │ 4 │ 4 │ 16 x 32 (4) │ 84% │ 0 │" in out and "│ val │ 2 │ 2 │" in out
    assert "│ 0 │ road │ 18.5% │ 18.5% │" in out and "│ 3 │ wall │ 0.0% │ 0.0% │" in out
    assert "warning: 13 class(es) never labelled in the 4 train items" in out
    assert "crop" not in out.split("class histogram")[1] and "no problems in 6 items" in out


def test_wrong_label_ids_exit_2_naming_the_file(cli, config, root):
    write_label(root / BAD_LABEL, np.full((16, 32), 40))
    result = cli("data", "check", config())
    assert result.exit_code == 2
    out = _flat(result.output)
    assert f"{root / BAD_LABEL}: label values 40 are not in the dataset's class table; expected Cityscapes label " \
           "ids 0..33" in out
    assert "Traceback" not in result.output


def test_a_crop_larger_than_the_images_warns_and_exits_0(cli, config):
    result = cli("data", "check", config(size=[128, 256]))
    assert result.exit_code == 0, result.output
    assert "warning: the training crop 512 x 1024 is larger than 4 of the 4 checked train images (128 x 256 (4)): " \
           "94% of such a crop is padding" in _flat(result.output)
    # train.crop of a training config is the crop training takes
    result = cli("data", "check", config(train={"crop": [64, 64]}, size=[128, 256]))
    assert result.exit_code == 0 and "training crop 64 x 64" in result.output and "larger than" not in result.output


def test_missing_files_exit_2(cli, config, root):
    (root / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png").unlink()
    result = cli("data", "check", config())
    assert result.exit_code == 2 and "aachen_000000_000019_leftImg8bit.png: image without its label" in \
        _flat(result.output)


def test_samples_splits_and_overrides(cli, config, root, tmp_path):
    result = cli("data", "check", config(), "--samples", "1")
    assert result.exit_code == 0 and "│ train │ 4 │ 1 │" in _flat(result.output)
    result = cli("data", "check", config(), "--split", "test")
    assert result.exit_code == 2 and "Cityscapes split 'test' not found" in _flat(result.output)
    result = cli("data", "check", config(), "--set", f"dataset.params.root={tmp_path / 'nowhere'}")
    assert result.exit_code == 2 and "Cityscapes root not found" in result.output
    result = cli("data", "check", config(train={"eval_split": "test"}))
    assert result.exit_code == 2 and "Cityscapes split 'test' not found" in _flat(result.output)


def test_a_search_config_is_read_as_a_search(cli, toy_config):
    result = cli("data", "check", str(toy_config))
    assert result.exit_code == 0, result.output
    assert "data check: blobs (search config" in _flat(result.output) and "training takes whole images" in \
        result.output
    result = cli("data", "check", str(toy_config), "--set", "strategy.name=nope")
    assert result.exit_code == 2 and "nope" in result.output


def test_train_stops_at_start_up_on_wrong_label_ids(cli, config, root, tiny_fcn, tmp_path):
    write_label(root / BAD_LABEL, np.full((16, 32), 40))
    result = cli("train", "tiny-fcn", "--config", config(), "--name", "bad")
    assert result.exit_code == 2
    out = _flat(result.output)
    assert "label values 40 are not in the dataset's class table" in out
    assert "(a start-up sample of at most 16 items per split; gasnas data check" in out
    assert not (tmp_path / "runs/bad/checkpoint.pt").exists() and not (tmp_path / "runs/bad/metrics.jsonl").exists()


def test_train_warns_at_start_up(cli, config, tiny_fcn):
    train = {"crop": [24, 48], "epochs": 1, "steps_per_epoch": 1, "batch_size": 2, "class_weight_power": 0}
    result = cli("train", "tiny-fcn", "--config", config(train=train), "--name", "crop")
    assert result.exit_code == 0, result.output
    assert "warning: data: the training crop 24 x 48 is larger than 4 of the 4 checked train images (16 x 32 (4)): " \
           "56% of such a crop is padding" in _flat(result.output)
