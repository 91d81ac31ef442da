"""``digit-scenes``: the embedded default dataset, generated from scikit-learn's handwritten digits.

Nothing to download: scenes are generated on first use (a few seconds) and cached as one ``.npz`` file per
split, holding the generator version and a hash of the parameters. A cache that is corrupt, from another
generator version or of other parameters is regenerated with a warning. See :mod:`.scenes` for the scenes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from gasnas.api import DataError, atomic_write, cache_dir
from gasnas.api.dataset import SegmentationDataset
from gasnas_plugins.datasets.options import DigitScenesOptions
from gasnas_plugins.datasets.scenes import GENERATOR_VERSION, SceneParams, generate_scenes
from gasnas_plugins.datasets.splits import ArraySplit
from gasnas_plugins.datasets.transforms import AugmentedCrop, SegmentationTransform

__all__ = ["DigitScenes", "default_cache_dir"]

log = logging.getLogger(__name__)

# tab10 digits on a black background
PALETTE = ((0, 0, 0), (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def default_cache_dir() -> Path:
    """``$GASNAS_CACHE_DIR/digit-scenes``, else ``$XDG_CACHE_HOME/gasnas/digit-scenes``, else ``~/.cache/...``."""
    return cache_dir("digit-scenes")


class DigitScenes(AugmentedCrop, SegmentationDataset):
    """Street-like scenes of handwritten digits: 11 classes (background and the digits 0-9), per-pixel labels."""

    num_classes = 11
    class_names = ("background", *(f"digit {d}" for d in range(10)))
    palette = PALETTE
    splits = ("train", "val", "test")

    def __init__(self, options: DigitScenesOptions | None = None) -> None:
        self.options = options or DigitScenesOptions()
        self.cache_dir = Path(self.options.cache_dir).expanduser() if self.options.cache_dir else default_cache_dir()
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.options.size)

    def split(self, name: str, *, train: bool = False) -> Dataset:
        if name not in self.splits:
            raise DataError(f"digit-scenes has no split '{name}'; the splits are {', '.join(self.splits)}")
        images, labels = self.arrays(name)
        transform = SegmentationTransform(mean=self.mean, std=self.std, ignore_index=self.ignore_index,
                                          augment=self.options.augment if train else None)
        return ArraySplit(images, labels, transform)

    def class_counts(self, split: str = "train") -> torch.Tensor:
        _, labels = self.arrays(split)
        return torch.from_numpy(np.bincount(labels.ravel(), minlength=self.num_classes)[:self.num_classes].astype(np.int64))

    # -- generation and cache -----------------------------------------------------------------------------------

    def _params(self, split: str) -> dict:
        o = self.options
        return {"split": split, "count": getattr(o, f"{split}_size"), "seed": o.seed, "size": list(o.size),
                "digits_per_scene": list(o.digits_per_scene), "sign_size": list(o.sign_size),
                "empty_signs": o.empty_signs, "distractors": o.distractors}

    def cache_file(self, split: str) -> Path:
        digest = hashlib.sha1(json.dumps(self._params(split), sort_keys=True).encode()).hexdigest()[:12]
        return self.cache_dir / f"{split}-{digest}.npz"

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Images ``N x H x W x 3`` and labels ``N x H x W`` of ``split`` (uint8), from the cache or generated."""
        if split not in self._arrays:
            path = self.cache_file(split)
            cached = self._read_cache(path, split)
            self._arrays[split] = cached if cached is not None else self._generate(path, split)
        return self._arrays[split]

    def _read_cache(self, path: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
        if not path.is_file():
            return None
        params = self._params(split)
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["version"])
                stored = json.loads(str(data["params"]))
                images, labels = data["images"], data["labels"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            log.warning("digit-scenes cache %s is corrupt (%s: %s); regenerating it", path, type(exc).__name__, exc)
            return None
        if version != GENERATOR_VERSION or stored != params:
            log.warning("digit-scenes cache %s is from generator version %s (this is %s) or other parameters; "
                        "regenerating it", path, version, GENERATOR_VERSION)
            return None
        height, width = self.options.size
        if (images.shape != (params["count"], height, width, 3) or labels.shape != images.shape[:3]
                or images.dtype != np.uint8 or labels.dtype != np.uint8 or labels.max(initial=0) >= self.num_classes):
            log.warning("digit-scenes cache %s holds arrays of the wrong shape or values; regenerating it", path)
            return None
        return images, labels

    def _generate(self, path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
        o = self.options
        params = SceneParams(tuple(o.size), tuple(o.digits_per_scene), tuple(o.sign_size), o.empty_signs, o.distractors)
        count = getattr(o, f"{split}_size")
        log.info("generating %d digit-scenes %s scenes into %s", count, split, path)
        images, labels, _ = generate_scenes(params, split, count, o.seed)
        payload = {"images": images, "labels": labels, "version": np.int64(GENERATOR_VERSION),
                   "params": np.str_(json.dumps(self._params(split), sort_keys=True))}
        try:
            atomic_write(path, lambda f: np.savez(f, **payload))
        except OSError as exc:  # a read-only cache still gives the data, only slower next time
            log.warning("cannot write the digit-scenes cache %s (%s); set dataset.params.cache_dir to a writable "
                        "folder to keep generated scenes", path, exc)
        return images, labels
