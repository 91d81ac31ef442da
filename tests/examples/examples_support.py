"""Support for the examples' tests: the examples must be installed (the README's test command does it)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

#: entry point name -> example folder
PACKAGES = {"encdec": "custom_space", "random-search": "custom_strategy", "device-table": "custom_estimator"}


def require_installed(entry_point: str) -> None:
    if not any(ep.name == entry_point for ep in importlib.metadata.entry_points(group="gasnas")):
        folder = f"examples/{PACKAGES[entry_point]}"
        pytest.fail(f"{folder} is not installed: pip install -e {folder} "
                    "(the README's test command does)")


TINY = ["--set", "budget.epochs=3", "--set", "budget.steps_per_epoch=1", "--set", "budget.batch_size=2"]
