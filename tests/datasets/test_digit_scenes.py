"""digit-scenes: deterministic, cached, splits that share no source digit, and a corrupt cache regenerated."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from gasnas.errors import DataError
from gasnas.options import parse_options
from gasnas_plugins.datasets import digit_scenes, scenes
from gasnas_plugins.datasets.digit_scenes import DigitScenes, default_cache_dir
from gasnas_plugins.datasets.options import DigitScenesOptions

TINY = {"size": [32, 64], "train_size": 6, "val_size": 4, "test_size": 3, "sign_size": [40, 80], "augment":
        {"crop": None}}


def _dataset(cache, **params) -> DigitScenes:
    return DigitScenes(parse_options(DigitScenesOptions, {**TINY, "cache_dir": str(cache), **params}))


def test_items_are_normalised_images_and_digit_labels(tmp_path):
    ds = _dataset(tmp_path)
    assert ds.num_classes == 11 and ds.class_names[0] == "background" and len(ds.palette) == 11
    assert ds.input_size == (32, 64)
    assert [len(ds.split(s)) for s in ("train", "val", "test")] == [6, 4, 3]
    image, label = ds.split("val")[0]
    assert image.shape == (3, 32, 64) and image.dtype == torch.float32
    assert label.shape == (32, 64) and label.dtype == torch.int64
    labels = torch.stack([y for _, y in ds.split("train")])
    assert 0 < (labels > 0).float().mean() < 0.9  # signs and background
    assert labels.max() <= 10 and len(labels.unique()) > 3


def _default_scenes(count: int, split: str = "val"):
    o = DigitScenesOptions()
    params = scenes.SceneParams(o.size, o.digits_per_scene, o.sign_size, o.empty_signs, o.distractors)
    return scenes.generate_scenes(params, split, count, seed=0)


def test_default_scenes_hold_varied_signs_on_a_quarter_of_the_pixels_or_more():
    images, labels, _ = _default_scenes(16)
    assert images.shape == (16, 128, 256, 3) and images.dtype == np.uint8
    counts = np.bincount(labels.ravel(), minlength=11)
    assert (counts[1:] > 0).all()  # every digit occurs in 16 scenes
    assert 0.25 <= counts[1:].sum() / labels.size <= 0.45  # the floor: a quarter of the pixels
    assert counts[1:].min() > 0.2 * counts[1:].max()  # no digit class is rare
    assert images.std() > 20  # textured, not flat


def _regions(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected regions of a boolean mask, as index arrays."""
    seen = np.zeros_like(mask)
    out = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        stack, pixels = [start], []
        seen[start] = True
        while stack:
            y, x = stack.pop()
            pixels.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        out.append(np.array(pixels))
    return out


def test_signs_come_at_several_scales_and_are_labelled_whole():
    """A sign is one solid region of one class, 32-64 pixels high at the default size: a pixel's class is decided
    by the digit in the middle of its sign, far from the pixel when the sign is large (context)."""
    _, labels, _ = _default_scenes(8)
    heights = []
    for label in labels:
        for cls in range(1, 11):
            for region in _regions(label == cls):
                if len(region) < 200:  # a sign mostly hidden behind another, or at the border
                    continue
                rows, cols = region[:, 0], region[:, 1]
                box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
                assert len(region) / box > 0.45  # a filled plate, not the strokes of a digit
                if 0 < rows.min() and rows.max() < label.shape[0] - 1:
                    heights.append(rows.max() - rows.min() + 1)
    assert len(heights) > 10
    assert min(heights) < 40 and max(heights) > 56  # several scales


def test_same_seed_same_scenes_other_seed_other_scenes(tmp_path):
    a = _dataset(tmp_path / "a").arrays("train")
    b = _dataset(tmp_path / "b").arrays("train")
    c = _dataset(tmp_path / "c", seed=1).arrays("train")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_splits_never_share_a_source_digit():
    _, classes = scenes.load_source_digits()
    parts = scenes.partition_sources(classes, seed=0)
    train, val, test = (set(parts[s].tolist()) for s in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert len(train | val | test) == 1797
    for part in parts.values():  # stratified: every digit in every split
        assert set(classes[part].tolist()) == set(range(10))


def test_scenes_of_different_splits_show_different_source_digits():
    params = scenes.SceneParams((32, 64), (3, 5), (40, 80), 1, 0)
    used = {split: set(scenes.generate_scenes(params, split, 6, seed=0)[2].tolist()) for split in ("train", "val")}
    _, classes = scenes.load_source_digits()
    pools = scenes.partition_sources(classes, seed=0)
    assert used["train"] and used["val"] and not used["train"] & used["val"]
    assert used["train"] <= set(pools["train"].tolist()) and used["val"] <= set(pools["val"].tolist())


def test_cache_is_reused(tmp_path, monkeypatch):
    first = _dataset(tmp_path).arrays("val")
    monkeypatch.setattr(digit_scenes, "generate_scenes", lambda *a, **k: pytest.fail("regenerated"))
    again = _dataset(tmp_path).arrays("val")
    assert np.array_equal(first[0], again[0])
    assert len(list(tmp_path.glob("val-*.npz"))) == 1


def test_corrupt_cache_is_regenerated_with_a_warning(tmp_path, caplog):
    ds = _dataset(tmp_path)
    expected = ds.arrays("val")[0].copy()
    path = ds.cache_file("val")
    path.write_bytes(path.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING):
        regenerated = _dataset(tmp_path).arrays("val")[0]
    assert "is corrupt" in caplog.text and "regenerating it" in caplog.text
    assert np.array_equal(regenerated, expected)
    assert path.stat().st_size > 1000  # written again


def test_cache_of_another_generator_version_is_regenerated(tmp_path, caplog, monkeypatch):
    _dataset(tmp_path).arrays("val")
    monkeypatch.setattr(digit_scenes, "GENERATOR_VERSION", scenes.GENERATOR_VERSION + 1)
    calls = []
    real = digit_scenes.generate_scenes
    monkeypatch.setattr(digit_scenes, "generate_scenes", lambda *a: calls.append(a) or real(*a))
    with caplog.at_level(logging.WARNING):
        _dataset(tmp_path).arrays("val")
    assert calls and f"from generator version {scenes.GENERATOR_VERSION}" in caplog.text


def test_unknown_split(tmp_path):
    with pytest.raises(DataError, match="digit-scenes has no split 'valid'; the splits are train, val, test"):
        _dataset(tmp_path).split("valid")


def test_training_augmentation_keeps_the_size(tmp_path):
    ds = _dataset(tmp_path, augment={"scale": [0.5, 1.5], "crop": None, "flip": True})
    torch.manual_seed(0)
    for i in range(3):
        image, label = ds.split("train", train=True)[i]
        assert image.shape == (3, 32, 64) and label.shape == (32, 64)


def test_cache_location_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GASNAS_CACHE_DIR", str(tmp_path / "g"))
    assert default_cache_dir() == tmp_path / "g" / "digit-scenes"
    monkeypatch.delenv("GASNAS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "gasnas" / "digit-scenes"


def test_bad_options_are_config_errors():
    from gasnas.errors import ConfigError

    with pytest.raises(ConfigError, match="digits_per_scene must be"):
        parse_options(DigitScenesOptions, {"digits_per_scene": [5, 2]})
    with pytest.raises(ConfigError, match=r"size: 4 is out of range: expected >= 8"):
        parse_options(DigitScenesOptions, {"size": [4, 64]})
    with pytest.raises(ConfigError, match="sign_size must be"):
        parse_options(DigitScenesOptions, {"sign_size": [64, 32]})


def test_class_counts_are_the_train_labels_histogram(tmp_path):
    ds = _dataset(tmp_path)
    counts = ds.class_counts("train")
    labels = torch.stack([y for _, y in ds.split("train")])
    assert counts.tolist() == torch.bincount(labels.flatten(), minlength=11).tolist()
