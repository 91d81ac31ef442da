"""Options of the default evaluators (no torch import: the registry reads them at start-up)."""

from __future__ import annotations

from dataclasses import dataclass

from gasnas.api import check_ranges, option

__all__ = ["SegmentationOptions"]


@dataclass(frozen=True)
class SegmentationOptions:
    """mIoU, per-class IoU and pixel accuracy from a confusion matrix."""

    flip: bool = option(False, "also predict the mirrored image and average the two (flip evaluation)")
    scales: tuple[float, ...] = option((1.0,), "input scales whose predictions are averaged (multi-scale "
                                               "evaluation); [1.0] is single-scale", gt=0)
    ignore_index: int | None = option(None, "label value that is not scored; null: the dataset's (labels are 8-bit)",
                                      ge=0, le=255)

    def __post_init__(self) -> None:
        check_ranges(self)
        if not self.scales:
            raise ValueError("scales must be a non-empty list of positive numbers, got []")
