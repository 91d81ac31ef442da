"""cityscapes: the official layout, the id -> trainId table, and a clear error for every kind of bad data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_fixtures import CITYSCAPES_IDS, make_cityscapes, truncate, write_label
from gasnas.errors import DataError
from gasnas.options import parse_options
from gasnas_plugins.datasets.cityscapes import LABELS, Cityscapes, label_map
from gasnas_plugins.datasets.options import CityscapesOptions


def _dataset(root, **params) -> Cityscapes:
    return Cityscapes(parse_options(CityscapesOptions, {"root": str(root), **params}))


@pytest.fixture
def root(tmp_path):
    return make_cityscapes(tmp_path / "cityscapes")


def test_reads_the_official_layout_and_maps_ids_to_train_ids(root):
    ds = _dataset(root)
    assert ds.num_classes == 19 and len(ds.class_names) == 19 and len(ds.palette) == 19
    assert ds.input_size == (1024, 2048)
    val = ds.split("val")
    assert len(ds.split("train")) == 4 and len(val) == 2
    image, label = val[0]
    assert image.shape == (3, 16, 32) and image.dtype == torch.float32
    assert label.shape == (16, 32) and label.dtype == torch.int64
    assert sorted(label.unique().tolist()) == sorted(set(CITYSCAPES_IDS.values()))
    # the stripes keep their place: the first column is id 0 (ignored), the last id 33 (bicycle, train id 18)
    assert label[0, 0] == 255 and label[0, -1] == 18


def test_table_is_the_official_one():
    assert [name for _, name, t in LABELS if t != 255][:3] == ["road", "sidewalk", "building"]
    assert sorted(t for _, _, t in LABELS if t != 255) == list(range(19))
    table = label_map().table
    assert table[7] == 0 and table[26] == 13 and table[33] == 18 and table[0] == 255 and table[34] == -1


def test_table_matches_cityscapesscripts_when_installed():
    labels = pytest.importorskip("cityscapesscripts.helpers.labels")
    official = {label.id: (label.name, label.trainId) for label in labels.labels if label.id >= 0}
    ours = {label_id: (name, train_id) for label_id, name, train_id in LABELS}
    assert ours == {k: (n, 255 if t in (-1, 255) else t) for k, (n, t) in official.items()}


def test_resize_and_training_augmentation(root):
    ds = _dataset(root, size=[8, 16], augment={"scale": [0.5, 1.5], "crop": [12, 12], "flip": True})
    assert ds.input_size == (8, 16)
    assert ds.split("val")[0][0].shape == (3, 8, 16)
    torch.manual_seed(0)
    image, label = ds.split("train", train=True)[0]
    assert image.shape == (3, 12, 12) and label.shape == (12, 12)


def test_missing_root(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: Cityscapes root not found; download leftImg8bit"):
        _dataset(tmp_path / "nowhere")


def test_missing_split(root):
    with pytest.raises(DataError, match=r"leftImg8bit/test: Cityscapes split 'test' not found"):
        _dataset(root).split("test")
    with pytest.raises(DataError, match="no split 'training'; the splits are train, val, test"):
        _dataset(root).split("training")


def test_missing_labels_folder(root):
    import shutil

    shutil.rmtree(root / "gtFine" / "val")
    with pytest.raises(DataError, match=r"gtFine/val: Cityscapes labels of split 'val' not found"):
        _dataset(root).split("val")


def test_image_without_its_label(root):
    label = root / "gtFine/val/frankfurt/frankfurt_000001_000019_gtFine_labelIds.png"
    label.unlink()
    with pytest.raises(DataError, match=r"frankfurt_000001_000019_leftImg8bit.png: image without its label "
                                        r"\(expected .*frankfurt_000001_000019_gtFine_labelIds.png\)"):
        _dataset(root).split("val")


def test_label_without_its_image(root):
    (root / "leftImg8bit/val/frankfurt/frankfurt_000000_000019_leftImg8bit.png").unlink()
    with pytest.raises(DataError, match="frankfurt_000000_000019_gtFine_labelIds.png: label without its image"):
        _dataset(root).split("val")


def test_label_values_outside_the_class_range(root):
    path = root / "gtFine/val/frankfurt/frankfurt_000000_000019_gtFine_labelIds.png"
    write_label(path, np.full((16, 32), 40))
    with pytest.raises(DataError, match=r"frankfurt_000000_000019_gtFine_labelIds.png: label values 40 are outside "
                                        r"the class range; expected Cityscapes label ids 0..33"):
        _dataset(root).split("val")[0]


def test_truncated_image(root):
    path = root / "leftImg8bit/val/frankfurt/frankfurt_000000_000019_leftImg8bit.png"
    truncate(path)
    with pytest.raises(DataError, match="frankfurt_000000_000019_leftImg8bit.png: unreadable or truncated image"):
        _dataset(root).split("val")[0]


def test_unreadable_label(root):
    path = root / "gtFine/val/frankfurt/frankfurt_000000_000019_gtFine_labelIds.png"
    path.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="gtFine_labelIds.png: unreadable or truncated label image"):
        _dataset(root).split("val")[0]


def test_image_and_label_of_different_sizes(root):
    path = root / "gtFine/val/frankfurt/frankfurt_000000_000019_gtFine_labelIds.png"
    write_label(path, np.full((8, 32), 7))
    with pytest.raises(DataError, match=r"label is 8 x 32 but its image .*leftImg8bit.png is 16 x 32"):
        _dataset(root).split("val")[0]


def test_colour_label_is_refused(root):
    from PIL import Image

    path = root / "gtFine/val/frankfurt/frankfurt_000000_000019_gtFine_labelIds.png"
    Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(path)
    with pytest.raises(DataError, match="must have one channel of class ids"):
        _dataset(root).split("val")[0]
