"""``cityscapes``: the official layout and the official 19 training classes.

Layout (as the Cityscapes download unpacks)::

    ROOT/leftImg8bit/{train,val,test}/{city}/{city}_{seq}_{frame}_leftImg8bit.png
    ROOT/gtFine/{train,val,test}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png

Label ids 0-33 map to training ids 0-18 or ignore (255) through the table of cityscapesscripts' ``labels.py``;
any other value is an error naming the file.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
from gasnas.api import DataError
from gasnas_plugins.datasets.files import LabelMap, list_images, pair_by_name, reject_orphan_labels, require_dir
from gasnas_plugins.datasets.options import CityscapesOptions
from gasnas_plugins.datasets.splits import FolderDataset

__all__ = ["Cityscapes", "LABELS", "label_map"]

IGNORE = 255
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
NATIVE_SIZE = (1024, 2048)

#: (label id, name, train id) of every Cityscapes label with an id >= 0, as in cityscapesscripts' table
LABELS: tuple[tuple[int, str, int], ...] = (
    (0, "unlabeled", IGNORE), (1, "ego vehicle", IGNORE), (2, "rectification border", IGNORE),
    (3, "out of roi", IGNORE), (4, "static", IGNORE), (5, "dynamic", IGNORE), (6, "ground", IGNORE),
    (7, "road", 0), (8, "sidewalk", 1), (9, "parking", IGNORE), (10, "rail track", IGNORE), (11, "building", 2),
    (12, "wall", 3), (13, "fence", 4), (14, "guard rail", IGNORE), (15, "bridge", IGNORE), (16, "tunnel", IGNORE),
    (17, "pole", 5), (18, "polegroup", IGNORE), (19, "traffic light", 6), (20, "traffic sign", 7),
    (21, "vegetation", 8), (22, "terrain", 9), (23, "sky", 10), (24, "person", 11), (25, "rider", 12),
    (26, "car", 13), (27, "truck", 14), (28, "bus", 15), (29, "caravan", IGNORE), (30, "trailer", IGNORE),
    (31, "train", 16), (32, "motorcycle", 17), (33, "bicycle", 18),
)

#: the official colours of the 19 training classes
PALETTE = ((128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
           (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
           (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32))


def label_map() -> LabelMap:
    """Label ids 0-33 -> training ids; any other id is an error."""
    table = np.full(256, -1, dtype=np.int16)
    for label_id, _, train_id in LABELS:
        table[label_id] = train_id
    return LabelMap(table, f"Cityscapes label ids 0..{LABELS[-1][0]} (a *{LABEL_SUFFIX} file)")


class Cityscapes(FolderDataset):
    """Cityscapes fine annotations: 19 classes, everything else ignored."""

    name = "cityscapes"
    num_classes = 19
    ignore_index = IGNORE
    class_names = tuple(name for _, name, train_id in LABELS if train_id != IGNORE)
    palette = PALETTE
    splits = ("train", "val", "test")

    def __init__(self, options: CityscapesOptions | None = None) -> None:
        self.options = options or CityscapesOptions()
        self.root = require_dir(Path(self.options.root).expanduser(), "Cityscapes root",
                                "download leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from "
                                "cityscapes-dataset.com, unpack both into one folder and set dataset.params.root "
                                "to it")

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.options.size or NATIVE_SIZE)

    @cached_property
    def _label_map(self) -> LabelMap:
        return label_map()

    def find_pairs(self, split: str) -> list[tuple[Path, Path]]:
        """Each ``leftImg8bit/split/<city>/*_leftImg8bit.png`` with its ``gtFine`` labelIds file."""
        images_dir = require_dir(self.root / "leftImg8bit" / split, f"Cityscapes split '{split}'",
                                 f"expected {self.root}/leftImg8bit/{split}/<city>/*{IMAGE_SUFFIX}")
        labels_dir = require_dir(self.root / "gtFine" / split, f"Cityscapes labels of split '{split}'",
                                 f"expected {self.root}/gtFine/{split}/<city>/*{LABEL_SUFFIX}")
        images = list_images(images_dir, f"*/*{IMAGE_SUFFIX}")
        if not images:
            raise DataError(f"{images_dir}: no *{IMAGE_SUFFIX} images in its city folders")

        def label_for(image: Path) -> Path:
            stem = image.name[: -len(IMAGE_SUFFIX)]
            return labels_dir / image.parent.name / f"{stem}{LABEL_SUFFIX}"

        pairs = pair_by_name(images, label_for, "every image needs its gtFine labelIds file")
        reject_orphan_labels(list_images(labels_dir, f"*/*{LABEL_SUFFIX}"), pairs, labels_dir,
                             lambda label: f"it in {images_dir}")
        return pairs
