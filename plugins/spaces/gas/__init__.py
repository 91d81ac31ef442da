"""The ``gas`` search space: GAS's cell-independent space (registration only; no torch imported here)."""

from __future__ import annotations

from gasnas import hookimpl
from gasnas.api import NNI, SAMPLING, SUPERNET
from gasnas_plugins.spaces.gas.options import GasSpaceOptions


@hookimpl
def gasnas_register_search_spaces(registry) -> None:
    registry.add("gas", "gasnas_plugins.spaces.gas.space:GasSearchSpace", options=GasSpaceOptions,
                 capabilities=[SUPERNET, SAMPLING, NNI],
                 description="GAS's cell-independent space: every cell has its own DARTS-style DAG "
                             "(presets gas-tiny, gas-paper)")
