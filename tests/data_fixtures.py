"""Tiny datasets on disk in the official layouts, for the loader tests (written with Pillow, a few KB each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: Cityscapes label ids used in the fixtures, and the train ids they must map to
CITYSCAPES_IDS = {0: 255, 7: 0, 8: 1, 11: 2, 23: 10, 26: 13, 33: 18}


def _png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)
    return path


def _label(rng: np.random.Generator, values: list[int], size: tuple[int, int]) -> np.ndarray:
    """Vertical stripes of the given ids, so that every id occurs."""
    h, w = size
    cols = np.array(values, dtype=np.uint8)[np.arange(w) * len(values) // w]
    return np.broadcast_to(cols, (h, w)).copy()


def make_cityscapes(root: Path, *, size: tuple[int, int] = (16, 32), per_city: int = 2,
                    cities: dict[str, tuple[str, ...]] | None = None) -> Path:
    """``root/leftImg8bit/{split}/{city}/...`` and ``root/gtFine/{split}/{city}/...`` with labelIds PNGs."""
    rng = np.random.default_rng(0)
    cities = cities or {"train": ("aachen", "bochum"), "val": ("frankfurt",)}
    for split, names in cities.items():
        for city in names:
            for i in range(per_city):
                stem = f"{city}_{i:06d}_000019"
                _png(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png",
                     rng.integers(0, 256, (*size, 3), dtype=np.uint8))
                _png(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png",
                     _label(rng, list(CITYSCAPES_IDS), size))
                _png(root / "gtFine" / split / city / f"{stem}_gtFine_color.png",  # present in the real download
                     rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return root


def make_camvid(root: Path, *, size: tuple[int, int] = (12, 16), count: int = 2) -> Path:
    """``root/{split}/NAME.png`` with ``root/{split}annot/NAME.png`` (ids 0-10, 11 = void)."""
    rng = np.random.default_rng(1)
    for split in ("train", "val", "test"):
        for i in range(count):
            name = f"0001TP_{split}_{i:04d}.png"
            _png(root / split / name, rng.integers(0, 256, (*size, 3), dtype=np.uint8))
            _png(root / f"{split}annot" / name, _label(rng, list(range(12)), size))
    return root


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_label(path: Path, array: np.ndarray) -> None:
    _png(path, array.astype(np.uint8))
