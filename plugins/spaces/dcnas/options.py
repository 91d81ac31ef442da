"""Options of the ``dcnas`` search space, and its presets. No torch here: configs are checked before it loads.

DCNAS (Zhang et al., CVPR 2021) has no public code; what its paper says is in docs/dcnas.md. From the paper:
cells at several scales, each connected to the cells before it through learnable path weights (the densely
connected space), a fusion module combining a cell's incoming paths, and memory saving through path-level and
channel-level sampling. Ours: every number below (layers, nodes, widths, how many paths a derived cell keeps, the
head) and the sampling defaults. Every field left ``null`` takes the preset's value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from gasnas.api import MAX_COUNT, check_ranges, option

__all__ = ["DcnasSpaceOptions", "DcnasSpec", "Sampling", "PRESETS", "PRESET_SAMPLING", "OPS", "MAX_SCALES",
           "resolve", "resolve_sampling"]

#: the candidate operations: GAS's set (``zero`` exists only in the supernet's relaxation)
OPS = ("zero", "skip_connect", "max_pool_3x3", "conv_3x3", "sep_conv_3x3",
       "dil_sep_conv_3x3_2", "dil_sep_conv_3x3_4", "dil_sep_conv_3x3_8")
#: scales 1/4, 1/8, 1/16, 1/32 of the input
MAX_SCALES = 4


@dataclass(frozen=True)
class DcnasSpec:
    """A fully resolved space: what the networks are built from (the sampling options are not part of it)."""

    layers: int
    scales: int
    nodes: int
    channels: int
    stem_channels: tuple[int, int]
    inputs: int
    head_channels: int
    ops: tuple[str, ...]

    def width(self, scale: int) -> int:
        """Channels of a cell at ``scale`` (0: 1/4, 1: 1/8, ...): doubled per scale."""
        return self.channels * 2 ** scale

    def divisor(self, scale: int) -> int:
        """Resolution divisor of ``scale`` with respect to the input."""
        return 4 * 2 ** scale


@dataclass(frozen=True)
class Sampling:
    """Memory-saving sampling of the supernet during the search: ``paths`` of a cell's incoming paths per step
    (``None``: all) and ``channel_fraction`` of each edge's channels through its mixed operation (1: all)."""

    paths: int | None = None
    channel_fraction: float = 1.0

    @property
    def groups(self) -> int:
        """PC-DARTS' K: 1 / channel_fraction."""
        return round(1 / self.channel_fraction)


PRESETS: dict[str, DcnasSpec] = {
    # Ours, sized for 2 CPU cores like gas-tiny: 3 layers x 4 scales, 2 nodes per cell, 8 channels at 1/4.
    "dcnas-tiny": DcnasSpec(layers=3, scales=4, nodes=2, channels=8, stem_channels=(8, 8), inputs=2,
                            head_channels=16, ops=OPS),
    # Our reading at Cityscapes scale (the paper's layer count and widths were not found): 12 layers x 4 scales
    # as Auto-DeepLab's grid, 3 nodes per cell, 64 channels at 1/4.
    "dcnas-paper": DcnasSpec(layers=12, scales=4, nodes=3, channels=64, stem_channels=(32, 64), inputs=2,
                             head_channels=128, ops=OPS),
}

#: the sampling each preset searches with (ours): off for the CPU size, both kinds on at Cityscapes scale
PRESET_SAMPLING: dict[str, Sampling] = {
    "dcnas-tiny": Sampling(paths=None, channel_fraction=1.0),
    "dcnas-paper": Sampling(paths=4, channel_fraction=0.25),
}


@dataclass(frozen=True)
class DcnasSpaceOptions:
    """DCNAS's densely connected space: stem to 1/4 -> L layers of cells at 1/4 ... 1/32, each cell fusing the
    outputs of every earlier cell -> head over the last layer."""

    preset: Literal["dcnas-tiny", "dcnas-paper"] = option("dcnas-tiny", "preset the other options start from")
    layers: int | None = option(None, "L: layers of cells (null: preset)", ge=1, le=MAX_COUNT)
    scales: int | None = option(None, "cells per layer, at 1/4, 1/8, 1/16, 1/32 of the input: 1 to 4 (null: "
                                      "preset)", ge=1, le=MAX_SCALES)
    nodes: int | None = option(None, "B: intermediate nodes per cell (null: preset)", ge=1, le=MAX_COUNT)
    channels: int | None = option(None, "width of the cells at 1/4; doubled per scale (null: preset)", ge=1)
    stem_channels: tuple[int, int] | None = option(None, "widths of the stem's two stride-2 convolutions (null: "
                                                         "preset)", ge=1)
    inputs: int | None = option(None, "incoming paths a derived cell keeps (its fusion averages them; null: "
                                      "preset)", ge=1, le=MAX_COUNT)
    head_channels: int | None = option(None, "width of the head (null: preset)", ge=1)
    ops: tuple[str, ...] | None = option(None, "candidate operations, a subset of GAS's 8 (null: all)")
    sample_paths: int | None = option(None, "path sampling: incoming paths of a cell run per training step, drawn "
                                            "by their weights, at least 2 (null: the preset's; 0: all, no "
                                            "sampling)", ge=0,
                                      le=MAX_COUNT)
    channel_fraction: float | None = option(None, "channel sampling (PC-DARTS): share of an edge's channels through "
                                                  "its mixed operation, 1/K (null: the preset's; 1: all)", gt=0, le=1)

    def __post_init__(self) -> None:
        check_ranges(self)
        resolve(self)  # cross-field checks surface as config errors
        resolve_sampling(self)


def resolve(options: DcnasSpaceOptions) -> DcnasSpec:
    """The preset with the options' non-null fields applied, checked."""
    base = PRESETS[options.preset]
    overrides = {f.name: getattr(options, f.name) for f in dataclasses.fields(DcnasSpec)
                 if getattr(options, f.name, None) is not None}
    spec = dataclasses.replace(base, **overrides)
    unknown = [op for op in spec.ops if op not in OPS]
    if unknown or len(set(spec.ops)) != len(spec.ops):
        raise ValueError(f"ops {list(spec.ops)} must be distinct names among GAS's operations: {', '.join(OPS)}")
    if not [op for op in spec.ops if op != "zero"]:
        raise ValueError("at least one operation other than zero is needed")
    return spec


def resolve_sampling(options: DcnasSpaceOptions) -> Sampling:
    """The preset's sampling with the options' non-null fields applied, checked against the widths."""
    base = PRESET_SAMPLING[options.preset]
    paths = base.paths if options.sample_paths is None else (options.sample_paths or None)
    fraction = base.channel_fraction if options.channel_fraction is None else options.channel_fraction
    if paths == 1:
        raise ValueError("sample_paths 1 would leave the path weights without a gradient (the fusion normalises "
                         "the weights of the paths it runs, and one path's is 1); use 2 or more, or 0 for all")
    sampling = Sampling(paths, fraction)
    groups = sampling.groups
    if abs(groups * fraction - 1) > 1e-6:
        raise ValueError(f"channel_fraction {fraction} must be 1/K for a whole K (1, 0.5, 0.25, ...)")
    channels = resolve(options).channels
    if channels % groups:
        raise ValueError(f"channel_fraction 1/{groups} needs channels divisible by {groups}, got channels={channels}")
    return sampling
