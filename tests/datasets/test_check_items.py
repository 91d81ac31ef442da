"""The data check of the folder datasets (``FolderDataset.check_items``): raw label ids against each dataset's
table, images checked whole without decoding, and the same histogram as reading the items."""

from __future__ import annotations

import numpy as np
import pytest

from data_fixtures import make_camvid, make_cityscapes, truncate, write_label
from gasnas.api.dataset import SegmentationDataset
from gasnas.datacheck import check_data
from gasnas.options import parse_options
from gasnas_plugins.datasets.camvid import CamVid
from gasnas_plugins.datasets.cityscapes import Cityscapes
from gasnas_plugins.datasets.options import CamVidOptions, CityscapesOptions

VAL_LABEL = "gtFine/val/frankfurt/frankfurt_000000_000019_gtFine_labelIds.png"


def _cityscapes(root, **params) -> Cityscapes:
    return Cityscapes(parse_options(CityscapesOptions, {"root": str(root), **params}))


@pytest.fixture
def root(tmp_path):
    return make_cityscapes(tmp_path / "cityscapes")


def test_counts_match_reading_the_items(root):
    ds = _cityscapes(root)
    for split in ("train", "val"):
        indices = range(len(ds.split(split)))
        fast = list(ds.check_items(split, indices))
        generic = list(SegmentationDataset.check_items(ds, split, indices))  # the contract's default: every item read
        assert [tuple(a.counts.tolist()) for a in fast] == [tuple(b.counts.tolist()) for b in generic]
        assert [a.size for a in fast] == [b.size for b in generic] == [(16, 32)] * len(indices)
        assert all(a.pixels == 16 * 32 and not a.bad_ids and a.error is None for a in fast)
    report = check_data(ds, "cityscapes")
    assert report.errors == [] and report.splits[0].counts == ds.class_counts("train").tolist()


def test_sizes_are_those_after_the_resize(root):
    (item,) = _cityscapes(root, size=[8, 16]).check_items("val", [0])
    assert item.size == (8, 16) and item.pixels == 16 * 32  # counted at the files' resolution


def test_wrong_label_ids_name_the_file_and_the_table(root):
    label = np.full((16, 32), 7)
    label[0, :3] = (34, 40, 255)
    write_label(root / VAL_LABEL, label)
    report = check_data(_cityscapes(root), "cityscapes")
    (error,) = report.errors
    assert error.startswith(f"{root / VAL_LABEL}: label values 34, 40, 255 are not in the dataset's class table; "
                            "expected Cityscapes label ids 0..33")
    assert error.endswith("1 of the 2 checked val items hold such values (all of them: 34, 40, 255)")


def test_broken_files_are_errors_and_the_check_goes_on(root):
    truncate(root / "leftImg8bit/val/frankfurt/frankfurt_000000_000019_leftImg8bit.png")
    write_label(root / "gtFine/val/frankfurt/frankfurt_000001_000019_gtFine_labelIds.png", np.full((8, 32), 7))
    first, second = check_data(_cityscapes(root), "cityscapes").splits[1].errors
    assert "frankfurt_000000_000019_leftImg8bit.png: unreadable or truncated image" in first
    assert "label is 8 x 32 but its image" in second


def test_unpaired_files_are_a_layout_error_counting_them_all(root):
    for city, i in (("aachen", 0), ("bochum", 1)):
        (root / f"gtFine/train/{city}/{city}_00000{i}_000019_gtFine_labelIds.png").unlink()
    report = check_data(_cityscapes(root), "cityscapes")
    (error,) = report.errors
    assert "aachen_000000_000019_leftImg8bit.png: image without its label" in error
    assert error.endswith("; 2 of the 4 images lack theirs")
    assert report.splits[0].checked == 0 and report.splits[1].checked == 2  # the val split is still checked


def test_the_default_crop_on_small_images_warns(root):
    """The issue's case: images resized to 128 x 256 under the default 512 x 1024 crop."""
    warnings = check_data(_cityscapes(root, size=[128, 256]), "cityscapes").warnings
    assert warnings[0].startswith("the training crop 512 x 1024 is larger than 4 of the 4 checked train images "
                                  "(128 x 256 (4)): 94% of such a crop is padding with the ignore label at scale 1, "
                                  "89% on average over the random scales 0.5-2;")
    assert not [w for w in check_data(_cityscapes(root, augment={"crop": [16, 32]}), "cityscapes").warnings
                if "crop" in w]


def test_camvid_void_is_allowed_and_other_ids_are_not(tmp_path):
    root = make_camvid(tmp_path / "camvid")  # labels 0..11, 11 void
    ds = CamVid(parse_options(CamVidOptions, {"root": str(root)}))
    report = check_data(ds, "camvid")
    assert report.errors == [] and all(n > 0 for n in report.splits[0].counts)
    write_label(root / "valannot/0001TP_val_0001.png", np.full((12, 16), 12))
    (error,) = check_data(ds, "camvid").errors
    assert "0001TP_val_0001.png: label values 12 are not in the dataset's class table; expected 0..10 (classes) " \
           "or 11, 255 (ignored)" in error
