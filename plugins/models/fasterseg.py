"""FasterSeg's searched student (Chen et al., ICLR 2020) as a zoo model: a network of the ``fasterseg`` space.

What FasterSeg's official code verifies of the student (docs/fasterseg.md): the stem to 1/8 (48 then 96
channels), 16 layers over 1/8, 1/16 and 1/32 (96 / 192 / 384 channels), branches ending at 1/16 and 1/32, the
operations mostly the zoomed two-conv one and the widths mostly 4/12. Its exact architecture (``arch_1.pt``) is a
binary file we could not read, so the rest is ours: every cell has that one operation and width, both branches
reach 1/16 at layer ``down16`` and the 1/32 branch leaves at ``down32``, and the head is the ``fasterseg``
space's (each branch 1x1 to ``head_channels``, added, a 3x3 refine conv, the classifier), not FasterSeg's
ARM / FFM head. Every one of these is an option.
"""

from __future__ import annotations

from typing import Any

from gasnas_plugins.models.build import load_weights
from gasnas_plugins.models.options import FasterSegOptions
from gasnas_plugins.spaces.fasterseg.network import (FasterSegNetwork, grid, input_label, inputs_of, op_label,
                                                     width_label)
from gasnas_plugins.spaces.fasterseg.options import FasterSegSpaceOptions, FasterSegSpec, resolve

__all__ = ["student_sample", "fasterseg"]


def student_sample(spec: FasterSegSpec, options: FasterSegOptions) -> dict[str, Any]:
    """The ``fasterseg`` space sample of the student: one operation and width everywhere, 1/16 reached at layer
    ``down16`` and 1/32 at ``down32`` (from the 1/16 path), every other cell keeping its scale."""
    downs = {1: options.down16, 2: options.down32}
    sample: dict[str, Any] = {}
    for layer, scale in grid(spec):
        sample[op_label(layer, scale)] = options.operation
        sample[width_label(layer, scale)] = options.width
        if len(inputs_of((layer, scale))) > 1:
            sample[input_label(layer, scale)] = "down" if layer == downs[scale] else "keep"
    return sample


def fasterseg(num_classes: int, options: FasterSegOptions | None = None) -> FasterSegNetwork:
    """FasterSeg's student (see the module docstring), trained from scratch; ``weights`` loads a state dict."""
    options = options or FasterSegOptions()
    spec = resolve(FasterSegSpaceOptions(preset="fasterseg-paper", layers=options.layers, channels=options.channels,
                                         stem_channels=options.stem_channels, head_channels=options.head_channels,
                                         branches=(1, 2), derive_guards=False))
    return load_weights(FasterSegNetwork(spec, student_sample(spec, options), num_classes), options.weights)
