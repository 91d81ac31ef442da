"""The ``fasterseg`` search space: FasterSeg's multi-resolution space (registration only; no torch imported here)."""

from __future__ import annotations

from gasnas import hookimpl
from gasnas.api import NNI, SAMPLING, SUPERNET
from gasnas_plugins.spaces.fasterseg.options import FasterSegSpaceOptions


@hookimpl
def gasnas_register_search_spaces(registry) -> None:
    registry.add("fasterseg", "gasnas_plugins.spaces.fasterseg.space:FasterSegSearchSpace",
                 options=FasterSegSpaceOptions, capabilities=[SUPERNET, SAMPLING, NNI],
                 description="FasterSeg's space: L layers over 1/8, 1/16, 1/32 with an operation, input and width "
                             "per cell and a two-branch head (presets fasterseg-tiny, fasterseg-paper)")
