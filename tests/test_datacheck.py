"""The data check over the dataset contract (its default ``check_items``), and the search's start-up check."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch.utils.data import Dataset

from gasnas import hookimpl
from gasnas.api.dataset import SegmentationDataset
from gasnas.config import load_config
from gasnas.datacheck import (
    MAX_LISTED, DataReport, SplitReport, check_data, mean_padded_share, padded_share, percent, sample_indices,
)
from gasnas.engine import Engine
from gasnas.errors import DataError
from gasnas.options import option
from gasnas.reporting import NullReporter


@dataclass(frozen=True)
class PatchOptions:
    bad_label: int | None = option(None, "a label value put into the first val item")
    crop: tuple[int, int] | None = option(None, "the training crop the dataset declares")
    broken: bool = option(False, "the second train item raises a DataError")
    blank: bool = option(False, "every label pixel is the ignore index")


class _Items(Dataset):
    def __init__(self, labels: torch.Tensor, broken: tuple[int, ...]) -> None:
        self.labels = labels
        self.broken = broken

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        if i in self.broken:
            raise DataError(f"patch {i}: unreadable")
        return torch.zeros(3, *self.labels.shape[1:]), self.labels[i]


class Patches(SegmentationDataset):
    """Test-only: four 8 x 8 items per split, the left half class 0 and the right half class 1; class 2 never
    occurs."""

    num_classes = 3
    class_names = ("left", "right", "never")
    palette = ((0, 0, 0), (255, 255, 255), (255, 0, 0))

    def __init__(self, options: PatchOptions | None = None) -> None:
        self.options = options or PatchOptions()

    @property
    def input_size(self):
        return (8, 8)

    @property
    def train_crop(self):
        return self.options.crop

    def split(self, name, *, train=False):
        if name not in self.splits:
            raise DataError(f"patches has no split '{name}'")
        labels = torch.zeros(4, 8, 8, dtype=torch.long)
        labels[:, :, 4:] = 1
        if self.options.blank:
            labels[:] = self.ignore_index
        if self.options.bad_label is not None and name == "val":
            labels[0, 1, 1] = self.options.bad_label
        return _Items(labels, (1,) if self.options.broken and name == "train" else ())


class PatchPlugin:
    @hookimpl
    def gasnas_register_datasets(self, registry):
        registry.add("patches", Patches, options=PatchOptions, description="test-only patches")


def test_sample_indices_spread_through_the_split():
    assert sample_indices(10, None) == list(range(10)) and sample_indices(3, 16) == [0, 1, 2]
    assert sample_indices(10, 4) == [0, 2, 5, 7] and sample_indices(2975, 16)[-1] == 2789


def test_padded_share():
    # the case: 128 x 256 images under the default 512 x 1024 crop
    assert padded_share((128, 256), (512, 1024)) == pytest.approx(0.9375)
    assert percent(padded_share((128, 256), (512, 1024))) == "94%"
    assert padded_share((600, 1200), (512, 1024)) == 0 and padded_share((8, 8), (16, 8)) == 0.5
    assert padded_share((100, 100), (100, 100), scale=0.5) == pytest.approx(0.75)
    # a crop of the image's size pads only below scale 1: mean over [0.5, 2] of 1 - s^2 for s < 1
    expected = (0.5 - (1 - 0.5 ** 3) / 3) / 1.5
    assert mean_padded_share((1000, 1000), (1000, 1000), (0.5, 2.0)) == pytest.approx(expected, abs=1e-3)
    assert mean_padded_share((8, 8), (16, 16), (1.0, 1.0)) == 0.75
    assert percent(0.9995) == "100.0%" and percent(0.001) == "0.1%" and percent(1.0) == "100%"


def test_counts_sizes_and_a_class_never_labelled():
    report = check_data(Patches(), "patches")
    train, val = report.splits
    assert (train.items, train.checked, val.checked) == (4, 4, 4)
    assert train.counts == [128, 128, 0] and train.pixels == 256 and dict(train.sizes) == {(8, 8): 4}
    assert report.errors == [] and report.crop is None
    assert report.warnings == ["1 class(es) never labelled in the 4 train items, which a network cannot learn: never"]
    report.raise_errors()  # nothing to raise
    sampled = check_data(Patches(), "patches", samples=2)
    assert sampled.splits[0].checked == 2 and sampled.splits[0].counts == [64, 64, 0]
    assert sampled.warnings == []  # a sample proves no class absent


def test_wrong_label_ids_are_an_error_naming_the_item():
    report = check_data(Patches(PatchOptions(bad_label=7)), "patches")
    assert report.splits[0].errors == []
    assert report.errors == ["val item 0: label values 7 are not in the dataset's class table; expected 0..2 "
                             "(classes) or 255 (ignored); 1 of the 4 checked val items hold such values (all of "
                             "them: 7)"]
    with pytest.raises(DataError, match=r"dataset 'patches': the data check found 1 problem\(s\) \(checked 4 of 4 "
                                        r"train items, 4 of 4 val items\):\n- val item 0: label values 7 .*\nHINT$"):
        report.raise_errors("HINT")


def test_item_errors_are_collected_and_the_rest_still_counted():
    report = check_data(Patches(PatchOptions(broken=True)), "patches")
    train = report.splits[0]
    assert train.errors == ["patch 1: unreadable"] and train.checked == 4 and train.counts == [96, 96, 0]
    assert report.warnings == []  # no claim about classes from a split with errors


def test_a_missing_split_is_an_error():
    report = check_data(Patches(), "patches", splits=("train", "test"))
    assert report.errors == ["no split 'test'; the splits are train, val"]


def test_crop_larger_than_the_images_warns_with_the_padded_share():
    (warning,) = [w for w in check_data(Patches(PatchOptions(crop=(16, 16))), "patches").warnings if "crop" in w]
    assert warning.startswith("the training crop 16 x 16 is larger than 4 of the 4 checked train images (8 x 8 (4)): "
                              "75% of such a crop is padding with the ignore label at scale 1;")
    assert "make the crop at most 8 x 8" in warning
    for crop in ((8, 8), (4, 8)):
        assert not [w for w in check_data(Patches(PatchOptions(crop=crop)), "patches").warnings if "crop" in w]


def test_labels_without_a_labelled_pixel_warn():
    warnings = check_data(Patches(PatchOptions(blank=True)), "patches", samples=2).warnings
    assert warnings == [f"no labelled pixel in the 2 checked {s} items: every label pixel is the ignore index 255"
                        for s in ("train", "val")]


def test_raise_errors_lists_a_bounded_number():
    split = SplitReport("train", items=20, checked=20, errors=[f"file {i}: broken" for i in range(MAX_LISTED + 2)])
    report = DataReport("x", ("a",), 255, None, (1.0, 1.0), [split])
    with pytest.raises(DataError) as info:
        report.raise_errors()
    lines = str(info.value).splitlines()
    assert len(lines) == MAX_LISTED + 2 and lines[-1] == "- ... and 2 more"


# -- the search's start-up check ----------------------------------------------------------------------------------

@pytest.fixture
def patches_config(toy_config, register):
    register(PatchPlugin(), name="patches")

    def _write(**params) -> str:
        text = toy_config.read_text().replace("{name: blobs, params: {size: 16}}",
                                              f"{{name: patches, params: {params}}}".replace("'", ""))
        toy_config.write_text(text)
        return toy_config

    return _write


def test_search_stops_at_start_up_on_wrong_label_ids(patches_config):
    engine = Engine(load_config(patches_config(bad_label=7)), reporter=NullReporter())
    with pytest.raises(DataError, match=r"val item 0: label values 7 .*\n\(a start-up sample of at most 16 items per "
                                        r"split; gasnas data check .*toy.yaml checks them all\)"):
        engine.run()
    assert not engine.run_dir.checkpoint_file.exists() and not engine.run_dir.metrics_file.exists()


def test_search_warns_at_start_up_and_beside_the_result(patches_config, cli):
    config = patches_config(crop=[16, 16])
    warning = "data: the training crop 16 x 16 is larger than 4 of the 4 checked train images (8 x 8 (4)): 75%"
    result = cli("search", str(config))
    assert result.exit_code == 0, result.output
    assert f"warning: {warning}" in " ".join(result.output.split())  # at start-up
    found = Engine(load_config(config), reporter=NullReporter()).run()
    assert found.warnings[0].startswith(warning)  # and beside the result
