"""Options of the ``gas`` search space, and its presets. No torch here: configs are checked before it loads.

GAS's paper does not publish the number of cells, the reduction positions, the widths or the head's settings
(see docs/gas.md). ``gas-paper`` is our best reading at Cityscapes scale; ``gas-tiny`` is ours, sized for the
CPU quickstart. Every field left ``null`` takes the preset's value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from gasnas.api import MAX_COUNT, check_ranges, option

__all__ = ["GasSpaceOptions", "GasSpec", "PRESETS", "OPS", "resolve"]

#: GAS's candidate operations (the first, ``zero``, exists only in the supernet's relaxation).
OPS = ("zero", "skip_connect", "max_pool_3x3", "conv_3x3", "sep_conv_3x3",
       "dil_sep_conv_3x3_2", "dil_sep_conv_3x3_4", "dil_sep_conv_3x3_8")


@dataclass(frozen=True)
class GasSpec:
    """A fully resolved space: what the networks are built from."""

    cells: int
    nodes: int
    channels: int
    stem_channels: tuple[int, int, int]
    reductions: tuple[int, ...]
    output_stride: int
    head: Literal["aspp", "simple"]
    head_channels: int
    aspp_rates: tuple[int, ...]
    ops: tuple[str, ...]

    @property
    def stem_stride(self) -> int:
        return self.output_stride // 2 ** len(self.reductions)

    def cell_channels(self, k: int) -> int:
        return self.channels * 2 ** sum(1 for r in self.reductions if r <= k)

    def is_reduction(self, k: int) -> bool:
        return k in self.reductions


PRESETS: dict[str, GasSpec] = {
    # Ours, sized for 2 CPU cores: a 5-cell chain at 1/4 then 1/8 of the input.
    "gas-tiny": GasSpec(cells=5, nodes=3, channels=12, stem_channels=(8, 12, 16), reductions=(2,),
                        output_stride=8, head="aspp", head_channels=32, aspp_rates=(2, 4), ops=OPS),
    # Our reading of the paper at Cityscapes scale: 3-conv stem, independent cells, light ASPP, output stride 8.
    "gas-paper": GasSpec(cells=10, nodes=4, channels=32, stem_channels=(32, 32, 48), reductions=(3,),
                         output_stride=8, head="aspp", head_channels=128, aspp_rates=(6, 12, 18), ops=OPS),
}


@dataclass(frozen=True)
class GasSpaceOptions:
    """GAS's cell-independent space: stem -> L cells, each with its own architecture -> head."""

    preset: Literal["gas-tiny", "gas-paper"] = option("gas-tiny", "preset the other options start from")
    cells: int | None = option(None, "L: number of cells (null: preset)", ge=1, le=MAX_COUNT)
    nodes: int | None = option(None, "B: intermediate nodes per cell (null: preset)", ge=1, le=MAX_COUNT)
    channels: int | None = option(None, "channels of the first cells; doubled at each reduction (null: preset)",
                                  ge=1)
    stem_channels: tuple[int, int, int] | None = option(None, "widths of the 3 stem convolutions (null: preset)",
                                                        ge=1)
    reductions: tuple[int, ...] | None = option(None, "indices of the reduction cells (null: preset)", ge=0)
    output_stride: int | None = option(None, "input size / head input size: 8, 16 or 32 (null: preset)",
                                       ge=2)  # the stem alone strides 2, 4 or 8
    head: Literal["aspp", "simple"] | None = option(None, "segmentation head (null: preset)")
    head_channels: int | None = option(None, "width of the head (null: preset)", ge=1)
    aspp_rates: tuple[int, ...] | None = option(None, "dilation rates of the light ASPP (null: preset)", ge=1)
    ops: tuple[str, ...] | None = option(None, "candidate operations, a subset of GAS's 8 (null: all)")

    def __post_init__(self) -> None:
        check_ranges(self)
        resolve(self)  # cross-field checks surface as config errors


def resolve(options: GasSpaceOptions) -> GasSpec:
    """The preset with the options' non-null fields applied, checked."""
    base = PRESETS[options.preset]
    overrides = {f.name: getattr(options, f.name) for f in dataclasses.fields(GasSpec)
                 if getattr(options, f.name, None) is not None}
    spec = dataclasses.replace(base, **overrides)
    if any(not 0 <= r < spec.cells for r in spec.reductions) or len(set(spec.reductions)) != len(spec.reductions):
        raise ValueError(f"reductions {list(spec.reductions)} must be distinct cell indices in [0, {spec.cells})")
    stem = spec.output_stride // 2 ** len(spec.reductions)
    if stem not in (2, 4, 8) or stem * 2 ** len(spec.reductions) != spec.output_stride:
        raise ValueError(f"output_stride {spec.output_stride} with {len(spec.reductions)} reduction cell(s) needs a "
                         f"stem stride of {spec.output_stride / 2 ** len(spec.reductions):g}; the 3-conv stem "
                         "reaches 2, 4 or 8")
    unknown = [op for op in spec.ops if op not in OPS]
    if unknown:
        raise ValueError(f"unknown operation(s) {unknown}; GAS's operations: {', '.join(OPS)}")
    if len([op for op in spec.ops if op != "zero"]) < 1:
        raise ValueError("at least one operation other than zero is needed")
    return spec
