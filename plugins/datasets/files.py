"""Reading images and label maps from disk: every problem is a :class:`DataError` naming the file.

Nothing is skipped silently: a missing folder, an image without its label, an unreadable or truncated file, a
label with values outside the class range or of another size than its image all stop with what was expected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gasnas.api import DataError

__all__ = ["LabelMap", "read_image", "read_label", "check_same_size", "require_dir", "pair_by_name",
           "reject_orphan_labels", "image_size", "verify_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _open(path: Path, what: str):
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        image = Image.open(path)
        image.load()  # decodes everything now: a truncated file fails here, not later
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: unreadable or truncated {what} ({type(exc).__name__}: {exc}); "
                        "replace the file or remove it together with its pair") from None
    return image


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image, reading its header only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
        raise DataError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from None
    return height, width


def verify_image(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image whose file is whole: its structure and checksums are read (a truncated PNG
    fails), its pixels not decoded. Faster than :func:`read_image`, for checking many files."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image not found")
    try:
        with Image.open(path) as image:
            width, height = image.size
            image.verify()
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: unreadable or truncated image ({type(exc).__name__}: {exc}); replace the file or "
                        "remove it together with its pair") from None
    return height, width


def read_image(path: str | Path) -> np.ndarray:
    """An ``H x W x 3`` uint8 RGB array (grey and palette images are converted)."""
    image = _open(Path(path), "image")
    return np.array(image.convert("RGB"), dtype=np.uint8)


def read_label(path: str | Path) -> np.ndarray:
    """An ``H x W`` array of label ids from a single-channel (grey, palette or 16-bit) image."""
    path = Path(path)
    image = _open(path, "label image")
    if image.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        raise DataError(f"{path}: a label image must have one channel of class ids (mode L, P or I), "
                        f"got mode {image.mode}; colour-coded labels must be converted to ids first")
    return np.array(image)


def check_same_size(image: np.ndarray | tuple[int, int], label: np.ndarray, image_path: Path,
                    label_path: Path) -> None:
    """An image (an array, or its (height, width)) and its label are of the same size, else a DataError."""
    height, width = image.shape[:2] if isinstance(image, np.ndarray) else image
    if (height, width) != label.shape[:2]:
        raise DataError(f"{label_path}: label is {label.shape[0]} x {label.shape[1]} but its image {image_path} is "
                        f"{height} x {width}; an image and its label must have the same size")


@dataclass(frozen=True)
class LabelMap:
    """Maps raw label ids to training ids through a lookup table; ids the table rejects are an error.

    ``table[raw] = train id`` (or the ignore index); ``-1`` marks a raw id that must not occur.
    """

    table: np.ndarray
    expected: str  # what raw ids are allowed, for messages

    @classmethod
    def identity(cls, num_classes: int, ignore_index: int, void: Sequence[int] = ()) -> LabelMap:
        """Ids ``0..num_classes-1`` stay, the ids in ``void`` and ``ignore_index`` become ``ignore_index``."""
        size = max(num_classes, ignore_index, *void) + 1
        table = np.full(size, -1, dtype=np.int16)
        table[:num_classes] = np.arange(num_classes)
        for v in (*void, ignore_index):
            table[v] = ignore_index
        allowed = ", ".join(str(v) for v in sorted({*void, ignore_index}))
        return cls(table, f"0..{num_classes - 1} (classes) or {allowed} (ignored)")

    def __call__(self, raw: np.ndarray, path: Path) -> np.ndarray:
        """The training ids of ``raw`` (uint8 ``H x W``), or a :class:`DataError` naming the bad values."""
        mapped, bad = self.lenient(raw)
        if bad.size:
            self._fail(bad, path)
        return mapped.astype(np.uint8)

    def lenient(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(training ids, raw ids the table rejects)``: the rejected ids map to -1 instead of raising."""
        raw = np.asarray(raw)
        if raw.size == 0 or (raw.min() >= 0 and raw.max() < len(self.table)):
            mapped = self.table[raw]
        else:
            inside = (raw >= 0) & (raw < len(self.table))
            mapped = np.where(inside, self.table[np.where(inside, raw, 0)], -1)
        bad = mapped < 0
        return mapped, np.unique(raw[bad]) if bad.any() else raw[:0].ravel()

    def _fail(self, bad: np.ndarray, path: Path) -> None:
        shown = ", ".join(str(int(v)) for v in bad[:8]) + (", ..." if len(bad) > 8 else "")
        raise DataError(f"{path}: label values {shown} are outside the class range; expected {self.expected}")


def require_dir(path: Path, what: str, hint: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{path}: {what} not found; {hint}")
    return path


def pair_by_name(images: Sequence[Path], label_for, what: str) -> list[tuple[Path, Path]]:
    """``(image, label)`` pairs where ``label_for(image)`` names the label; a missing label is an error."""
    pairs = [(image, label_for(image)) for image in images]
    missing = [(image, label) for image, label in pairs if not label.is_file()]
    if missing:
        image, label = missing[0]
        more = f"; {len(missing)} of the {len(pairs)} images lack theirs" if len(missing) > 1 else ""
        raise DataError(f"{image}: image without its label (expected {label}); {what}{more}")
    return pairs


def reject_orphan_labels(labels: Sequence[Path], pairs: Sequence[tuple[Path, Path]], labels_dir: Path,
                         expected: Callable[[Path], str]) -> None:
    """A label file no image was paired with is an error, naming it and where its image was ``expected``."""
    paired = {label for _, label in pairs}
    orphans = [p for p in labels if p not in paired]
    if orphans:
        raise DataError(f"{orphans[0]}: label without its image (expected {expected(orphans[0])}); "
                        f"{len(orphans)} such label(s) in {labels_dir}")


def list_images(folder: Path, pattern: str = "*") -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
