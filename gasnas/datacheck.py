"""The data check: a dataset's splits, files, label ids, class histogram and image sizes, before a long run.

``gasnas data check CONFIG`` checks every item of the splits a run reads; ``gasnas search`` and ``gasnas train``
check a fixed sample of :data:`STARTUP_SAMPLES` items of each at start-up, so that wrong label ids or a crop
larger than the images show in seconds instead of after an epoch. The check works over the dataset contract
alone (:meth:`~gasnas.api.dataset.SegmentationDataset.check_items` reads the items; a dataset that can check
better overrides it), so every dataset plugin gets it.

What makes a run fail or learn from garbage is an **error** (a missing split or file, an image without its
label, label ids the dataset's table lacks): :meth:`DataReport.raise_errors` raises one
:class:`~gasnas.errors.DataError` listing them. What only wastes a run is a **warning**: a training crop larger
than the images (that share of each crop is ignored padding), a split without a labelled pixel, a class the
train split never labels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gasnas.errors import DataError

if TYPE_CHECKING:
    from gasnas.api.dataset import ItemCheck, SegmentationDataset

__all__ = ["check_data", "DataReport", "SplitReport", "STARTUP_SAMPLES", "sample_indices", "padded_share",
           "describe_sizes", "percent"]

#: items per split the start-up check of a search or a training reads (evenly spaced through the split)
STARTUP_SAMPLES = 16
#: problems a DataError lists before "... and N more"
MAX_LISTED = 10
#: scales the mean padded share over a random scale range is averaged at
SCALE_STEPS = 64


def sample_indices(total: int, samples: int | None) -> list[int]:
    """``samples`` indices evenly spaced through ``range(total)`` (all of them when ``samples`` is None or not
    smaller): the same items every time, from the whole split."""
    if samples is None or samples >= total:
        return list(range(total))
    return [i * total // samples for i in range(samples)]


def padded_share(size: tuple[int, int], crop: tuple[int, int], scale: float = 1.0) -> float:
    """The share of a ``crop`` that is padding (the ignore label) when an image of ``size`` scaled by ``scale``
    is cropped to it."""
    height, width = (max(1, round(side * scale)) for side in size)
    crop_h, crop_w = crop
    return 1.0 - min(height, crop_h) * min(width, crop_w) / (crop_h * crop_w)


def mean_padded_share(size: tuple[int, int], crop: tuple[int, int], scales: tuple[float, float]) -> float:
    """:func:`padded_share` averaged over scales drawn uniformly from ``scales`` (low, high)."""
    low, high = scales
    if low == high:
        return padded_share(size, crop, low)
    steps = [low + (high - low) * (i + 0.5) / SCALE_STEPS for i in range(SCALE_STEPS)]
    return sum(padded_share(size, crop, s) for s in steps) / SCALE_STEPS


@dataclass
class SplitReport:
    """What the check found in one split: its size, the items checked, their classes, sizes and problems."""

    name: str
    #: items in the split (0 when it could not be opened)
    items: int = 0
    #: items checked (all, or a sample)
    checked: int = 0
    #: labelled pixels per class over the checked items
    counts: list[int] = field(default_factory=list)
    #: label pixels of the checked items, the ignored ones included
    pixels: int = 0
    #: (height, width) -> checked items of that size
    sizes: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def labelled(self) -> int:
        return sum(self.counts)

    @property
    def complete(self) -> bool:
        """Whether every item of the split was checked."""
        return self.items > 0 and self.checked == self.items


@dataclass
class DataReport:
    """What :func:`check_data` found: one :class:`SplitReport` per split, the warnings, and the errors."""

    dataset: str
    class_names: tuple[str, ...]
    ignore_index: int
    #: the training crop and random scale range the crop warning was computed for (None: no crop)
    crop: tuple[int, int] | None
    scale: tuple[float, float]
    splits: list[SplitReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [error for split in self.splits for error in split.errors]

    def raise_errors(self, hint: str = "") -> None:
        """Raise one :class:`~gasnas.errors.DataError` listing the errors (the first :data:`MAX_LISTED`), with
        ``hint`` appended; nothing when there are none."""
        errors = self.errors
        if not errors:
            return
        lines = [f"- {error}" for error in errors[:MAX_LISTED]]
        if len(errors) > MAX_LISTED:
            lines.append(f"- ... and {len(errors) - MAX_LISTED} more")
        checked = ", ".join(f"{s.checked} of {s.items} {s.name} items" for s in self.splits if s.items)
        raise DataError(f"dataset '{self.dataset}': the data check found {len(errors)} problem(s)"
                        f"{f' (checked {checked})' if checked else ''}:\n" + "\n".join(lines)
                        + (f"\n{hint}" if hint else ""))


def check_data(dataset: SegmentationDataset, name: str, splits: Sequence[str] = ("train", "val"),
               samples: int | None = None) -> DataReport:
    """Check ``samples`` evenly spaced items (None: all) of each of ``splits`` of ``dataset`` (registered as
    ``name``): the layout, each item's files and label values, the class histogram and the image sizes against
    the training crop. Problems are collected, not raised: see :meth:`DataReport.raise_errors`."""
    report = DataReport(name, tuple(dataset.class_names), dataset.ignore_index, dataset.train_crop,
                        tuple(dataset.train_scale))
    for split in splits:
        report.splits.append(_check_split(dataset, split, samples))
    report.warnings = [*_crop_warnings(report), *_label_warnings(report)]
    return report


def _check_split(dataset: SegmentationDataset, split: str, samples: int | None) -> SplitReport:
    out = SplitReport(split, counts=[0] * dataset.num_classes)
    if split not in dataset.splits:
        out.errors.append(f"no split '{split}'; the splits are {', '.join(dataset.splits)}")
        return out
    try:
        out.items = len(dataset.split(split, train=False))
    except DataError as exc:  # the layout: a missing folder, an image without its label, ...
        out.errors.append(str(exc))
        return out
    if out.items == 0:
        out.errors.append(f"split '{split}' is empty")
        return out
    unknown: list[ItemCheck] = []
    for item in dataset.check_items(split, sample_indices(out.items, samples)):
        out.checked += 1
        if item.error is not None:
            out.errors.append(item.error)
            continue
        out.sizes[tuple(item.size)] += 1
        out.pixels += item.pixels
        out.counts = [a + int(b) for a, b in zip(out.counts, item.counts.tolist())]
        if item.bad_ids:
            unknown.append(item)
    if unknown:
        first = unknown[0]
        every = sorted({v for item in unknown for v in item.bad_ids})
        out.errors.append(f"{first.name}: label values {_listed(first.bad_ids)} are not in the dataset's class "
                          f"table; expected {first.expected}; {len(unknown)} of the {out.checked} checked {split} "
                          f"items hold such values (all of them: {_listed(every)})")
    return out


def _crop_warnings(report: DataReport) -> list[str]:
    """A warning when the training crop is larger than train images: that share of each crop is padding."""
    train = next((s for s in report.splits if s.name == "train"), None)
    if report.crop is None or train is None or not train.sizes:
        return []
    crop_h, crop_w = report.crop
    smaller = {size: n for size, n in train.sizes.items() if size[0] < crop_h or size[1] < crop_w}
    if not smaller:
        return []
    count = sum(smaller.values())
    at_one = sum(padded_share(size, report.crop) * n for size, n in smaller.items()) / count
    text = (f"the training crop {crop_h} x {crop_w} is larger than {count} of the {train.checked} checked train "
            f"images ({describe_sizes(smaller)}): {percent(at_one)} of such a crop is padding with the ignore label at "
            "scale 1")
    if report.scale != (1.0, 1.0):
        mean = sum(mean_padded_share(size, report.crop, report.scale) * n for size, n in smaller.items()) / count
        text += f", {percent(mean)} on average over the random scales {report.scale[0]:g}-{report.scale[1]:g}"
    fit_h = min(size[0] for size in train.sizes)
    fit_w = min(size[1] for size in train.sizes)
    return [f"{text}; those pixels train nothing: make the crop at most {fit_h} x {fit_w} (the default datasets' "
            "augment.crop, or train.crop for gasnas train) or the images larger (their size option)"]


def _label_warnings(report: DataReport) -> list[str]:
    warnings = []
    for split in report.splits:
        if split.errors:  # the errors say what is wrong; a warning about the rest would mislead
            continue
        if split.pixels and not split.labelled:
            warnings.append(f"no labelled pixel in the {split.checked} checked {split.name} items: every label "
                            f"pixel is the ignore index {report.ignore_index}")
        elif split.name == "train" and split.complete:
            never = [report.class_names[c] if c < len(report.class_names) else str(c)
                     for c, n in enumerate(split.counts) if n == 0]
            if never:
                warnings.append(f"{len(never)} class(es) never labelled in the {split.items} train items, which a "
                                f"network cannot learn: {', '.join(never)}")
    return warnings


def percent(share: float) -> str:
    """``94%``; one decimal where rounding would say 0% or 100% of something that is not."""
    text = f"{share:.0%}"
    return f"{share:.1%}" if text in ("0%", "100%") and 0 < share < 1 else text


def _listed(values: Sequence[int], most: int = 8) -> str:
    return ", ".join(str(v) for v in values[:most]) + (", ..." if len(values) > most else "")


def describe_sizes(sizes: Counter | dict, most: int = 3) -> str:
    """``16 x 32 (4), 8 x 8 (1), ...``: the commonest image sizes with their counts."""
    ranked = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{h} x {w} ({n})" for (h, w), n in ranked[:most])
    return text + (f", ... ({len(ranked)} sizes)" if len(ranked) > most else "")
