"""Conformance of every registered dataset: it is tested the moment it registers.

Built with its default options (from an empty working directory, so that relative data roots do not exist), a
dataset either works or raises DataError naming what is missing. When it works, its items are normalised
float images ``3 x H x W`` and long labels ``H x W`` within the classes or the ignore index.
"""

from __future__ import annotations

import pytest
import torch

from gasnas.errors import DataError
from gasnas.plugins import PluginManager

DATASETS = [pytest.param(c, id=c.name) for c in PluginManager().registry("datasets")]


@pytest.mark.parametrize("comp", DATASETS)
def test_defaults_work_or_say_what_is_missing(comp, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GASNAS_CACHE_DIR", str(tmp_path / "cache"))
    try:
        comp.build(comp.default_options())
    except DataError as exc:
        message = str(exc)
        assert "not found" in message or "missing" in message, message
        assert "dataset.params.root" in message or "set" in message, "the message says what to do"


@pytest.fixture
def built(request, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GASNAS_CACHE_DIR", str(tmp_path / "cache"))
    comp = request.param
    try:
        return comp.build(comp.default_options())
    except DataError as exc:
        assert str(exc), "a DataError says what is missing"
        pytest.skip(f"{comp.name} needs data: {exc}")


@pytest.mark.parametrize("built", DATASETS, indirect=True)
def test_describes_its_classes(built):
    n = built.num_classes
    assert n >= 1 and len(built.class_names) == n and len(built.palette) == n
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in built.palette)
    assert not 0 <= built.ignore_index < n
    height, width = built.input_size
    assert height > 0 and width > 0
    assert {"train", "val"} <= set(built.splits)
    assert len(built.mean) == 3 and len(built.std) == 3


@pytest.mark.parametrize("built", DATASETS, indirect=True)
def test_items_are_normalised_images_and_class_labels(built):
    for train in (False, True):
        try:
            data = built.split("val", train=train)
        except DataError as exc:
            pytest.skip(f"no val split here: {exc}")
        image, label = data[0]
        assert image.dtype == torch.float32 and image.ndim == 3 and image.shape[0] == 3
        assert label.dtype == torch.int64 and label.shape == image.shape[1:]
        assert torch.isfinite(image).all() and -10 < image.mean() < 10
        valid = (label >= 0) & (label < built.num_classes) | (label == built.ignore_index)
        assert valid.all()
        if not train:
            assert tuple(image.shape[1:]) == tuple(built.input_size)


@pytest.mark.parametrize("built", DATASETS, indirect=True)
def test_unknown_split_is_a_data_error(built):
    with pytest.raises(DataError, match="no-such-split"):
        built.split("no-such-split")


@pytest.mark.parametrize("built", DATASETS, indirect=True)
def test_a_sample_passes_the_data_check(built):
    from gasnas.datacheck import check_data

    report = check_data(built, "conformance", samples=2)
    assert report.errors == []
    for split in report.splits:
        assert split.checked == 2 and 0 < split.labelled <= split.pixels
        assert len(split.counts) == built.num_classes and all(tuple(size) == tuple(built.input_size)
                                                              for size in split.sizes)
