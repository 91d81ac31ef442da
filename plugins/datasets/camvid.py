"""``camvid``: CamVid in the common 11-class layout (SegNet's), void ignored.

Layout::

    ROOT/{train,val,test}/NAME.png          images
    ROOT/{train,val,test}annot/NAME.png     label ids 0-10, 11 = void (255 is accepted as void too)
"""

from __future__ import annotations

from pathlib import Path

from gasnas.api import DataError
from gasnas_plugins.datasets.files import (LabelMap, image_size, list_images, pair_by_name, reject_orphan_labels,
                                           require_dir)
from gasnas_plugins.datasets.options import CamVidOptions
from gasnas_plugins.datasets.splits import FolderDataset

__all__ = ["CamVid"]

IGNORE = 255
VOID = 11

CLASS_NAMES = ("sky", "building", "pole", "road", "sidewalk", "tree", "sign/symbol", "fence", "car", "pedestrian",
               "bicyclist")
PALETTE = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
           (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192))


class CamVid(FolderDataset):
    """CamVid: 11 classes, void (11) ignored."""

    name = "camvid"
    num_classes = 11
    ignore_index = IGNORE
    class_names = CLASS_NAMES
    palette = PALETTE
    splits = ("train", "val", "test")

    def __init__(self, options: CamVidOptions | None = None) -> None:
        self.options = options or CamVidOptions()
        self.root = require_dir(Path(self.options.root).expanduser(), "CamVid root",
                                "point dataset.params.root at a folder holding train/, trainannot/, val/, "
                                "valannot/, test/ and testannot/ (SegNet's CamVid layout)")
        self._label_map = LabelMap.identity(self.num_classes, IGNORE, void=(VOID,))

    @property
    def input_size(self) -> tuple[int, int]:
        if self.options.size is not None:
            return tuple(self.options.size)
        return image_size(self.pairs("train")[0][0])

    def find_pairs(self, split: str) -> list[tuple[Path, Path]]:
        """Same file names in ``split/`` and ``splitannot/``."""
        images_dir = require_dir(self.root / split, f"CamVid split '{split}'",
                                 f"expected {self.root}/{split}/*.png with labels in {self.root}/{split}annot/")
        labels_dir = require_dir(self.root / f"{split}annot", f"CamVid labels of split '{split}'",
                                 f"expected {self.root}/{split}annot/ with one label image per image")
        images = list_images(images_dir)
        if not images:
            raise DataError(f"{images_dir}: no images")
        pairs = pair_by_name(images, lambda image: labels_dir / image.name,
                             f"every image in {images_dir} needs a label of the same name in {labels_dir}")
        reject_orphan_labels(list_images(labels_dir), pairs, labels_dir, lambda label: str(images_dir / label.name))
        return pairs
