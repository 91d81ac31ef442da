"""The ``dcnas`` search space: DCNAS's densely connected multi-scale space (registration only; no torch here)."""

from __future__ import annotations

from gasnas import hookimpl
from gasnas.api import NNI, SAMPLING, SUPERNET
from gasnas_plugins.spaces.dcnas.options import DcnasSpaceOptions


@hookimpl
def gasnas_register_search_spaces(registry) -> None:
    registry.add("dcnas", "gasnas_plugins.spaces.dcnas.space:DcnasSearchSpace", options=DcnasSpaceOptions,
                 capabilities=[SUPERNET, SAMPLING, NNI],
                 description="DCNAS's densely connected space: cells at 1/4 ... 1/32, each fusing weighted paths from "
                             "every earlier cell, GAS operations inside; path and channel sampling (presets "
                             "dcnas-tiny, dcnas-paper)")
