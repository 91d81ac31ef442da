"""camvid: the 11-class layout with void ignored, and a clear error for every kind of bad data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_fixtures import make_camvid, truncate, write_label
from gasnas.errors import DataError
from gasnas.options import parse_options
from gasnas_plugins.datasets.camvid import CamVid
from gasnas_plugins.datasets.options import CamVidOptions


def _dataset(root, **params) -> CamVid:
    return CamVid(parse_options(CamVidOptions, {"root": str(root), **params}))


@pytest.fixture
def root(tmp_path):
    return make_camvid(tmp_path / "camvid")


def test_reads_the_layout_and_ignores_void(root):
    ds = _dataset(root)
    assert ds.num_classes == 11 and len(ds.class_names) == 11 and len(ds.palette) == 11
    assert ds.input_size == (12, 16)  # read from the first training image
    for split in ("train", "val", "test"):
        assert len(ds.split(split)) == 2
    image, label = ds.split("test")[1]
    assert image.shape == (3, 12, 16) and image.dtype == torch.float32 and label.dtype == torch.int64
    assert sorted(label.unique().tolist()) == [*range(11), 255]  # 11 (void) became the ignore index
    assert label[0, -1] == 255


def test_255_is_accepted_as_void(root):
    write_label(root / "valannot/0001TP_val_0000.png", np.full((12, 16), 255))
    assert _dataset(root).split("val")[0][1].unique().tolist() == [255]


def test_training_crop_pads_with_ignore(root):
    ds = _dataset(root, augment={"scale": [1.0, 1.0], "crop": [20, 20], "flip": False})
    torch.manual_seed(0)
    image, label = ds.split("train", train=True)[0]
    assert image.shape == (3, 20, 20)
    assert (label[12:] == 255).all() and (label[:, 16:] == 255).all()
    assert (image[:, 12:] == 0).all()


def test_missing_root(tmp_path):
    with pytest.raises(DataError, match="CamVid root not found; point dataset.params.root"):
        _dataset(tmp_path / "none")


def test_missing_split(root):
    import shutil

    shutil.rmtree(root / "val")
    with pytest.raises(DataError, match=r"camvid/val: CamVid split 'val' not found"):
        _dataset(root).split("val")
    shutil.rmtree(root / "testannot")
    with pytest.raises(DataError, match=r"testannot: CamVid labels of split 'test' not found"):
        _dataset(root).split("test")


def test_image_without_its_label(root):
    (root / "trainannot/0001TP_train_0001.png").unlink()
    with pytest.raises(DataError, match=r"0001TP_train_0001.png: image without its label \(expected "
                                        r".*trainannot/0001TP_train_0001.png\)"):
        _dataset(root).split("train")


def test_label_without_its_image(root):
    (root / "train/0001TP_train_0001.png").unlink()
    with pytest.raises(DataError, match="trainannot/0001TP_train_0001.png: label without its image"):
        _dataset(root).split("train")


def test_label_values_outside_the_class_range(root):
    write_label(root / "valannot/0001TP_val_0001.png", np.arange(12 * 16).reshape(12, 16) % 20)
    with pytest.raises(DataError, match=r"0001TP_val_0001.png: label values 12, 13, 14, 15, 16, 17, 18, 19 are "
                                        r"outside the class range; expected 0..10 \(classes\) or 11, 255"):
        _dataset(root).split("val")[1]


def test_truncated_label(root):
    truncate(root / "valannot/0001TP_val_0000.png")
    with pytest.raises(DataError, match="0001TP_val_0000.png: unreadable or truncated label image"):
        _dataset(root).split("val")[0]


def test_unreadable_image(root):
    (root / "val/0001TP_val_0000.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match="0001TP_val_0000.png: unreadable or truncated image"):
        _dataset(root).split("val")[0]


def test_image_and_label_of_different_sizes(root):
    write_label(root / "valannot/0001TP_val_0000.png", np.zeros((12, 15)))
    with pytest.raises(DataError, match="label is 12 x 15 but its image .* is 12 x 16"):
        _dataset(root).split("val")[0]
