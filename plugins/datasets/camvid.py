"""``camvid``: CamVid in the common 11-class layout (SegNet's), void ignored.

Layout::

    ROOT/{train,val,test}/NAME.png          images
    ROOT/{train,val,test}annot/NAME.png     label ids 0-10, 11 = void (255 is accepted as void too)
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from gasnas.api.dataset import SegmentationDataset
from gasnas.errors import DataError
from gasnas_plugins.datasets.files import LabelMap, image_size, list_images, pair_by_name, require_dir
from gasnas_plugins.datasets.options import CamVidOptions
from gasnas_plugins.datasets.splits import FileSplit
from gasnas_plugins.datasets.transforms import SegmentationTransform

__all__ = ["CamVid"]

IGNORE = 255
VOID = 11

CLASS_NAMES = ("sky", "building", "pole", "road", "sidewalk", "tree", "sign/symbol", "fence", "car", "pedestrian",
               "bicyclist")
PALETTE = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
           (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192))


class CamVid(SegmentationDataset):
    """CamVid: 11 classes, void (11) ignored."""

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
        self._pairs: dict[str, list[tuple[Path, Path]]] = {}
        self._label_map = LabelMap.identity(self.num_classes, IGNORE, void=(VOID,))

    @property
    def input_size(self) -> tuple[int, int]:
        if self.options.size is not None:
            return tuple(self.options.size)
        return image_size(self.pairs("train")[0][0])

    def pairs(self, name: str) -> list[tuple[Path, Path]]:
        """The ``(image, label)`` files of split ``name``: same file names in ``name/`` and ``nameannot/``."""
        if name not in self.splits:
            raise DataError(f"camvid has no split '{name}'; the splits are {', '.join(self.splits)}")
        if name not in self._pairs:
            images_dir = require_dir(self.root / name, f"CamVid split '{name}'",
                                     f"expected {self.root}/{name}/*.png with labels in {self.root}/{name}annot/")
            labels_dir = require_dir(self.root / f"{name}annot", f"CamVid labels of split '{name}'",
                                     f"expected {self.root}/{name}annot/ with one label image per image")
            images = list_images(images_dir)
            if not images:
                raise DataError(f"{images_dir}: no images")
            pairs = pair_by_name(images, lambda image: labels_dir / image.name,
                                 f"every image in {images_dir} needs a label of the same name in {labels_dir}")
            names = {image.name for image in images}
            orphans = [p for p in list_images(labels_dir) if p.name not in names]
            if orphans:
                raise DataError(f"{orphans[0]}: label without its image (expected {images_dir / orphans[0].name}); "
                                f"{len(orphans)} such label(s) in {labels_dir}")
            self._pairs[name] = pairs
        return self._pairs[name]

    def split(self, name: str, *, train: bool = False) -> Dataset:
        transform = SegmentationTransform(mean=self.mean, std=self.std, ignore_index=self.ignore_index,
                                          size=self.options.size, augment=self.options.augment if train else None)
        return FileSplit(self.pairs(name), self._label_map, transform)
