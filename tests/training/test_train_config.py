"""Training configs: defaults, overrides, targets, and mistakes reported with their key path."""

from __future__ import annotations

import pytest

from gasnas.architecture import Architecture
from gasnas.errors import ConfigError, UnknownComponentError
from gasnas_plugins.training.config import load_train_config


def test_defaults_name_digit_scenes_and_segmentation(tiny_fcn, pm):
    config = load_train_config("tiny-fcn", pm=pm)
    assert config.dataset.name == "digit-scenes" and config.evaluator.name == "segmentation"
    assert config.target.to_dict() == {"kind": "model", "name": "tiny-fcn", "params": {"width": 8, "aux": False}}
    assert config.train.optimizer == "adamw" and config.seed == 0


def test_overrides_complete_the_default_sections(tiny_fcn, pm):
    config = load_train_config("tiny-fcn", overrides=["dataset.params.train_size=4", "train.epochs=3",
                                                      "model.params.width=4", "seed=5"], pm=pm)
    assert config.dataset.name == "digit-scenes" and config.dataset.params.train_size == 4
    assert config.train.epochs == 3 and config.target.params["width"] == 4 and config.seed == 5


def test_train_crop_sets_the_datasets_crop(tiny_fcn, pm):
    config = load_train_config("tiny-fcn", overrides=["train.crop=[64, 64]"], pm=pm)
    assert config.dataset.params.augment.crop == (64, 64)


def test_digest_ignores_where_and_on_what_device(tiny_fcn, pm):
    a = load_train_config("tiny-fcn", overrides=["output=a", "device=cpu"], pm=pm)
    b = load_train_config("tiny-fcn", overrides=["output=b"], pm=pm)
    c = load_train_config("tiny-fcn", overrides=["train.lr=0.5"], pm=pm)
    assert a.digest == b.digest != c.digest


def test_mistakes_name_the_key(tiny_fcn, pm, tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("train:\n  epocs: 3\n")
    with pytest.raises(ConfigError, match=r"t.yaml:2: train: unknown key 'epocs' \(did you mean 'epochs'\?\)"):
        load_train_config("tiny-fcn", path, pm=pm)
    with pytest.raises(ConfigError, match="unknown key 'trian'"):
        load_train_config("tiny-fcn", overrides=["trian.epochs=3"], pm=pm)
    with pytest.raises(ConfigError, match=r"train.optimizer: 'adam' is not allowed \(did you mean 'adamw'\?\)"):
        load_train_config("tiny-fcn", overrides=["train.optimizer=adam"], pm=pm)
    with pytest.raises(ConfigError, match=r"dataset.name: unknown dataset 'digits'"):
        load_train_config("tiny-fcn", overrides=["dataset.name=digits"], pm=pm)
    with pytest.raises(ConfigError, match=r"model.params: unknown key 'widht'"):
        load_train_config("tiny-fcn", overrides=["model.params.widht=4"], pm=pm)


def test_unknown_model_suggests_the_closest(tiny_fcn, pm):
    with pytest.raises(UnknownComponentError, match=r"'tiny-fc' is not an architecture file, and unknown model "
                                                    r"'tiny-fc' \(did you mean 'tiny-fcn'\?\)"):
        load_train_config("tiny-fc", pm=pm)


def test_architecture_targets(toys, pm, tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: architecture file not found"):
        load_train_config(str(tmp_path / "missing.yaml"), pm=pm)
    path = Architecture({"op": "conv1", "width": 2}, "tiny").save(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="model params apply to registered models"):
        load_train_config(str(path), overrides=["model.params.width=4"], pm=pm)
    unknown = Architecture({"op": "conv1"}, "no-such-space").save(tmp_path / "b.yaml")
    with pytest.raises(UnknownComponentError, match="unknown search space 'no-such-space'"):
        load_train_config(str(unknown), pm=pm)


def test_architecture_from_a_search_trains_on_the_searchs_dataset(toys, pm, tmp_path):
    run = tmp_path / "search"
    run.mkdir()
    (run / "config.yaml").write_text("dataset: {name: blobs, params: {size: 4}}\n")
    path = Architecture({"op": "conv1", "width": 2}, "tiny", metadata={"run": str(run)}).save(run / "a.yaml")
    config = load_train_config(str(path), pm=pm)
    assert config.dataset.name == "blobs" and config.dataset.params.size == 4


def test_train_crop_needs_a_dataset_with_augment_crop(toys, pm, tmp_path):
    path = Architecture({"op": "conv1", "width": 2}, "tiny").save(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="train.crop: dataset 'blobs' has no augment.crop option"):
        load_train_config(str(path), overrides=["dataset.name=blobs", "train.crop=[4, 4]"], pm=pm)


def test_every_train_option_is_documented():
    import dataclasses
    from pathlib import Path

    from gasnas_plugins.training.options import TrainOptions

    text = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    missing = [f.name for f in dataclasses.fields(TrainOptions) if f"| `{f.name}` |" not in text]
    assert not missing, f"docs/training.md does not list train options {missing}"


def test_init_is_checked_before_the_run_and_init_mode_is_digested_only_with_it(tiny_fcn, pm, tmp_path):
    with pytest.raises(ConfigError, match=r"train.init: weights file nowhere.pt does not exist"):
        load_train_config("tiny-fcn", overrides=["train.init=nowhere.pt"], pm=pm)
    plain = load_train_config("tiny-fcn", pm=pm)
    assert "init_mode" not in plain.to_dict()["train"]  # runs from before the option keep their digest
    assert load_train_config("tiny-fcn", overrides=["train.init_mode=partial"], pm=pm).digest == plain.digest
    (tmp_path / "w.pt").write_bytes(b"")
    init = load_train_config("tiny-fcn", overrides=[f"train.init={tmp_path / 'w.pt'}", "train.init_mode=partial"],
                             pm=pm)
    assert init.to_dict()["train"]["init_mode"] == "partial" and init.digest != plain.digest
    with pytest.raises(ConfigError, match=r"train.init_mode"):
        load_train_config("tiny-fcn", overrides=["train.init_mode=loose"], pm=pm)


def test_a_training_config_may_extend_another(tiny_fcn, pm, tmp_path):
    (tmp_path / "base.yaml").write_text("seed: 4\ntrain: {epochs: 3, lr: 0.5}\n")
    path = tmp_path / "t.yaml"
    path.write_text("base: base.yaml\ntrain: {epochs: 2}\n")
    config = load_train_config("tiny-fcn", path, pm=pm)
    assert (config.seed, config.train.epochs, config.train.lr) == (4, 2, 0.5)
    assert "base" not in config.to_dict()
