"""``gasnas data check CONFIG``: the data a search or training config names, checked before a long run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["data", "check"]

#: top-level sections only a search config has
SEARCH_SECTIONS = ("space", "strategy")


@click.group("data")
def data() -> None:
    """Datasets: check what a config would train on."""


@data.command("check")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set dataset.params.root=/data/cityscapes (repeatable).")
@click.option("--samples", type=click.IntRange(1, 10**7),
              help="Items checked per split, evenly spaced through it (default: all).")
@click.option("--split", "splits", multiple=True,
              help="A split to check (repeatable; default: those the run reads: train and val, or train and "
                   "train.eval_split of a training config).")
def check(config: Path, overrides: tuple[str, ...], samples: int | None, splits: tuple[str, ...]) -> None:
    """Check the dataset that CONFIG (a search or a training config) names.

    Reads every item of the splits (or --samples of each): the layout, each image with its label, label ids
    against the dataset's class table (the ignore index allowed), the class histogram, and the image sizes
    against the training crop. Exits 2 listing the problems (missing or broken files, unknown label ids);
    warnings (a crop larger than the images, classes never labelled) leave the exit status 0. Searches and
    trainings check a small sample the same way when they start.
    """
    from gasnas.api import check_data, console, get_plugin_manager

    pm = get_plugin_manager()
    kind, section, default_splits = _dataset_section(config, overrides, pm)
    dataset = pm.registry("datasets").get(section.name).build(section.params)
    report = check_data(dataset, section.name, splits or default_splits, samples)
    console.print(_splits_table(report, f"data check: {section.name} ({kind} config {config})"))
    if any(split.labelled for split in report.splits):
        console.print(_histogram(report))
    for warning in report.warnings:
        console.print(f"warning: {warning}", style="yellow", markup=False, highlight=False, soft_wrap=True)
    report.raise_errors()
    checked = sum(split.checked for split in report.splits)
    console.print(f"no problems in {checked} items{' (with warnings above)' if report.warnings else ''}",
                  style="green", markup=False, highlight=False)


def _dataset_section(config: Path, overrides: tuple[str, ...], pm: Any) -> tuple[str, Any, tuple[str, ...]]:
    """("search" or "training", the dataset section as the run would use it, the splits the run reads)."""
    from gasnas.api import apply_overrides, load_config, read_config
    from gasnas_plugins.training.config import load_train_data

    raw, where = read_config(config)
    data, _ = apply_overrides(raw, overrides, where)
    if any(key in data for key in SEARCH_SECTIONS):
        return "search", load_config(config, overrides, pm).dataset, ("train", "val")
    section, train = load_train_data(config, overrides, pm=pm)
    return "training", section, tuple(dict.fromkeys(("train", train.eval_split)))


def _splits_table(report, title: str):
    from gasnas.api import describe_sizes, percent, table

    rows = [(s.name, s.items, s.checked, describe_sizes(s.sizes) if s.sizes else "-",
             percent(s.labelled / s.pixels) if s.pixels else "-", len(s.errors)) for s in report.splits]
    crop = (f"training crop {report.crop[0]} x {report.crop[1]}, random scales {report.scale[0]:g}-"
            f"{report.scale[1]:g}" if report.crop else "training takes whole images")
    return table(title, ["split", "items", "checked", "image sizes (items)", "labelled pixels", "problems"], rows,
                 caption=crop)


def _histogram(report):
    from gasnas.api import table

    splits = [s for s in report.splits if s.labelled]
    rows = []
    for c, name in enumerate(report.class_names):
        rows.append((c, name, *(_share(s.counts[c], s.labelled) for s in splits)))
    return table("class histogram", ["id", "class", *(s.name for s in splits)], rows,
                 caption=f"share of the labelled pixels (ignore index {report.ignore_index} not counted)")


def _share(count: int, total: int) -> str:
    return "<0.1%" if 0 < count < total / 1000 else f"{count / total:.1%}"
