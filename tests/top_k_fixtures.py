"""What the ``--top-k`` tests share: a search run directory with ranked architectures, a tiny training config."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from gasnas.architecture import Architecture

#: a gas network that trains in about a second on tiny digit scenes
TINY_GAS = {"preset": "gas-tiny", "cells": 2, "reductions": [1], "nodes": 2, "channels": 8,
            "stem_channels": [8, 8, 8], "head_channels": 8, "head": "simple"}


def search_run(root: Path, count: int = 3) -> Path:
    """A search run directory as the engine leaves it: architectures/top{rank}-{id}.yaml, best first."""
    from gasnas.options import parse_options
    from gasnas.plugins import get_plugin_manager

    component = get_plugin_manager().registry("search spaces").get("gas")
    space = component.build(parse_options(component.options, TINY_GAS))
    folder = root / "search" / "architectures"
    folder.mkdir(parents=True)
    for rank in range(count):
        arch = Architecture(space.random_sample(random.Random(rank)), "gas", TINY_GAS, {"rank": rank})
        arch.save(folder / f"top{rank + 1}-{arch.id}.yaml")
    return root / "search"


def train_config(root: Path, **top) -> Path:
    from toy_models import tiny_scenes

    path = root / "train.yaml"
    path.write_text(yaml.safe_dump({"dataset": {"name": "digit-scenes", "params": tiny_scenes(root / "cache")},
                                    "train": {"epochs": 1, "batch_size": 4, "optimizer": "sgd", "lr": 0.05,
                                              "steps_per_epoch": 2},
                                    "output": str(root / "runs"), "device": "cpu", "threads": 1, **top}))
    return path


def results(summary: dict) -> dict:
    """What a training gave, without its speed (``..._s``: seconds, images per second)."""
    return {"best": summary["best"], **{k: v for k, v in summary["last"].items() if not k.endswith("_s")}}
