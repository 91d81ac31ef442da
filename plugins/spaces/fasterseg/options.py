"""Options of the ``fasterseg`` search space, and its presets. No torch here: configs are checked before it loads.

From FasterSeg's official code (see docs/fasterseg.md): the stem to 1/8 with 48 then 96 channels, 16 layers over
1/8, 1/16 and 1/32 (96 / 192 / 384 channels), the five operations and the width ratios {4, 6, 8, 10, 12} / 12.
FasterSeg's derivation guards against skip collapse and its head choice are options here too (see
``guards.py``). Ours: the head's width, the branch scales' default (those of FasterSeg's derived student, 1/16 and
1/32), the head choice off by default (FasterSeg searches both heads, 1/8 + 1/32 and 1/16 + 1/32) and
``fasterseg-tiny``, sized like ``gas-tiny`` for the CPU quickstart. Every field left ``null`` takes the preset's
value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from gasnas.api import MAX_COUNT, check_ranges, option

__all__ = ["FasterSegSpaceOptions", "FasterSegSpec", "PRESETS", "OPS", "WIDTHS", "SCALES", "HEADS", "head_name",
           "resolve"]

#: FasterSeg's candidate operations: 1x1 skip, 3x3 conv, two 3x3 convs, and their zoomed forms (bilinear
#: down 2 -> convs -> up 2).
OPS = ("skip", "conv", "conv_2x", "conv_downup", "conv_2x_downup")
#: FasterSeg's width ratios, in twelfths of a scale's full width
WIDTHS = (4, 6, 8, 10, 12)
#: the scales the layers run at, as resolution divisors of the stem output (1/8 of the input)
SCALES = 3
#: the heads FasterSeg's search trains (``pred02``, ``pred12``): the branch pairs a head choice picks from
HEADS = ((0, 2), (1, 2))


def head_name(branches: tuple[int, int]) -> str:
    """A head's label value: its branch scales as resolutions, e.g. ``1/16+1/32``."""
    return "+".join(f"1/{8 * 2 ** b}" for b in branches)


@dataclass(frozen=True)
class FasterSegSpec:
    """A fully resolved space: what the networks are built from."""

    layers: int
    channels: int
    stem_channels: int
    branches: tuple[int, int]
    head_channels: int
    ops: tuple[str, ...]
    widths: tuple[int, ...]
    #: the branch pairs a network may fuse; more than one: a ``head`` label chooses
    heads: tuple[tuple[int, int], ...] = ()

    def head_names(self) -> dict[str, tuple[int, int]]:
        """``head`` label value -> branch pair, for every candidate head."""
        return {head_name(pair): pair for pair in self.heads}

    def full_width(self, scale: int) -> int:
        """Channels of a cell at ``scale`` (0: 1/8, 1: 1/16, 2: 1/32) at width 12/12."""
        return self.channels * 2 ** scale

    def width(self, scale: int, twelfths: int) -> int:
        return max(1, round(self.full_width(scale) * twelfths / 12))


PRESETS: dict[str, FasterSegSpec] = {
    # Ours, sized for 2 CPU cores like gas-tiny: 4 layers, 12 channels at 1/8.
    "fasterseg-tiny": FasterSegSpec(layers=4, channels=12, stem_channels=8, branches=(1, 2), head_channels=16,
                                    ops=OPS, widths=WIDTHS),
    # FasterSeg's search supernet (search/config_search.py): 16 layers, 96 channels at 1/8, stem 48 -> 96.
    "fasterseg-paper": FasterSegSpec(layers=16, channels=96, stem_channels=48, branches=(1, 2), head_channels=128,
                                     ops=OPS, widths=WIDTHS),
}


@dataclass(frozen=True)
class FasterSegSpaceOptions:
    """FasterSeg's space: stem to 1/8 -> L layers of cells over 1/8, 1/16, 1/32 -> two branches fused by a head."""

    preset: Literal["fasterseg-tiny", "fasterseg-paper"] = option("fasterseg-tiny",
                                                                   "preset the other options start from")
    layers: int | None = option(None, "L: number of layers (null: preset)", ge=1, le=MAX_COUNT)
    channels: int | None = option(None, "full width at 1/8; doubled at 1/16 and again at 1/32 (null: preset)", ge=1)
    stem_channels: int | None = option(None, "width of the stem's first (stride-2) convolution (null: preset)",
                                       ge=1)
    branches: tuple[int, int] | None = option(None, "scales the two head branches end at, 0 (1/8), 1 (1/16) or 2 "
                                                    "(1/32), finer first (null: preset)", ge=0, le=SCALES - 1)
    head_channels: int | None = option(None, "width of the fusing head (null: preset)", ge=1)
    ops: tuple[str, ...] | None = option(None, "candidate operations, a subset of FasterSeg's 5 (null: all)")
    widths: tuple[int, ...] | None = option(None, "width ratios in twelfths, a subset of 4, 6, 8, 10, 12 "
                                                  "(null: all)", ge=1, le=12)
    head_choice: bool = option(False, "a 'head' label chooses which branches the head fuses, 1/8+1/32 or "
                                      "1/16+1/32, as FasterSeg's search does (the derivation picks it by FasterSeg's "
                                      "accuracy-latency objective when both heads were evaluated); off: 'branches'")
    derive_guards: bool = option(True, "FasterSeg's derivation rules against skip collapse: no skip on a "
                                       "downsampling cell, no all-skip run at a scale, at most max_skips skips per "
                                       "branch path; random samples hold them too")
    max_skips: int | None = option(None, "at most this many skip cells on each branch's path (null: FasterSeg's "
                                         "rule, L - round(L/3) - 2 x the branch's scale index)", ge=0)
    skip_on_downsampling: bool = option(False, "allow a skip as a downsampling (stride-2) cell, which FasterSeg's "
                                               "derivation replaces")
    head_latency_exponent: float = option(0.07, "w in FasterSeg's head objective accuracy x (latency / "
                                                "target)^-w", ge=0)

    def __post_init__(self) -> None:
        check_ranges(self)
        resolve(self)  # cross-field checks surface as config errors


def resolve(options: FasterSegSpaceOptions) -> FasterSegSpec:
    """The preset with the options' non-null fields applied, checked."""
    base = PRESETS[options.preset]
    overrides = {f.name: getattr(options, f.name) for f in dataclasses.fields(FasterSegSpec)
                 if getattr(options, f.name, None) is not None}
    spec = dataclasses.replace(base, **overrides)
    spec = dataclasses.replace(spec, heads=HEADS if options.head_choice else (spec.branches,))
    if options.head_choice and spec.branches not in HEADS:
        raise ValueError(f"branches {list(spec.branches)} with head_choice: the default head must be one of "
                         f"FasterSeg's two, {[list(h) for h in HEADS]}")
    if options.derive_guards and spec.ops == ("skip",):
        raise ValueError("ops ['skip'] leave the derivation guards nothing to replace a skip with; add an operation "
                         "or set derive_guards: false")
    low, high = spec.branches
    if not low < high:
        raise ValueError(f"branches {list(spec.branches)} must be two different scales, finer first")
    deepest = max(max(pair) for pair in spec.heads)
    if spec.layers <= deepest:
        raise ValueError(f"a branch at scale {deepest} needs more than {deepest} layers (one per halving), got "
                         f"layers={spec.layers}")
    unknown = [op for op in spec.ops if op not in OPS]
    if unknown or not spec.ops or len(set(spec.ops)) != len(spec.ops):
        raise ValueError(f"ops {list(spec.ops)} must be distinct names among FasterSeg's: {', '.join(OPS)}")
    if not spec.widths or any(w not in WIDTHS for w in spec.widths) or len(set(spec.widths)) != len(spec.widths):
        raise ValueError(f"widths {list(spec.widths)} must be distinct values among {', '.join(map(str, WIDTHS))}")
    return spec
