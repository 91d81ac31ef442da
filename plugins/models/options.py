"""Typed options of the model zoo. Torch-free: the registration module imports them to list the models.

Channel counts default to the papers' (or, where a paper is silent, the reference code's) and every one is an
option, so a smaller variant of a model is a config change, not a code change.
"""

from __future__ import annotations

from dataclasses import dataclass

from gasnas.api import check_ranges, option
from gasnas_plugins.spaces.fasterseg.options import OPS, WIDTHS

__all__ = ["BiSeNetV1Options", "BiSeNetV2Options", "STDCOptions", "FasterSegOptions"]

WEIGHTS_HELP = ("path of a state dict (torch.save(model.state_dict(), path)) to load after building; "
                "nothing is ever downloaded")


@dataclass(frozen=True)
class BiSeNetV1Options:
    """BiSeNetV1: spatial path, context path with ARMs and global context, feature fusion module."""

    spatial_channels: int = option(128, "channels of the spatial path's 1/8 output", ge=1)
    context_channels: int = option(128, "channels of the context path (ARM outputs, refine convs)", ge=1)
    ffm_reduction: int = option(1, "channel reduction inside the FFM attention (1 in the official TorchSeg code)",
                                ge=1)
    head_channels: int = option(64, "mid channels of the main segmentation head", ge=1)
    aux_head_channels: int = option(128, "mid channels of the two auxiliary heads", ge=1)
    aux_heads: bool = option(True, "build the two auxiliary heads on the context path (training only)")
    weights: str | None = option(None, WEIGHTS_HELP)

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass(frozen=True)
class BiSeNetV2Options:
    """BiSeNetV2: detail branch, semantic branch, bilateral guided aggregation, booster heads."""

    detail_channels: tuple[int, int, int] = option((64, 64, 128), "channels of detail stages S1, S2, S3", ge=1)
    semantic_channels: tuple[int, int, int, int] = option(
        (16, 32, 64, 128), "channels of the stem (S1-S2) and of semantic stages S3, S4, S5", ge=1)
    expansion: int = option(6, "expansion ratio of the gather-and-expand layers", ge=1)
    head_channels: int = option(1024, "mid channels of the main segmentation head", ge=1)
    aux_head_channels: int = option(128, "mid channels of the booster heads", ge=1)
    aux_heads: bool = option(True, "build the booster heads on S2, S3, S4 and S5_4 (training only)")
    weights: str | None = option(None, WEIGHTS_HELP)

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.detail_channels[-1] != self.semantic_channels[-1]:
            raise ValueError(f"the bilateral guided aggregation needs branches of equal width: detail_channels ends "
                             f"with {self.detail_channels[-1]}, semantic_channels with {self.semantic_channels[-1]}")


@dataclass(frozen=True)
class STDCOptions:
    """STDC-Seg: STDC backbone, BiSeNet-style context path and FFM, detail head trained with BCE + Dice."""

    base_channels: int = option(64, "backbone width: stages are base/2, base, 4*base, 8*base, 16*base channels",
                                ge=2)  # the stem's first conv has base // 2 channels
    context_channels: int = option(128, "channels of the context path (ARM outputs, refine convs)", ge=1)
    ffm_channels: int = option(256, "output channels of the feature fusion module", ge=1)
    ffm_reduction: int = option(4, "channel reduction inside the FFM attention", ge=1)
    head_channels: int = option(256, "mid channels of the main segmentation head", ge=1)
    aux_head_channels: int = option(64, "mid channels of the auxiliary and detail heads", ge=1)
    aux_heads: bool = option(True, "build the two auxiliary heads on the context path (training only)")
    detail_head: bool = option(True, "build the detail head on stage 3 and add the detail loss (training only)")
    aux_weight: float = option(1.0, "weight of each auxiliary cross-entropy term (1.0 in the official code)", ge=0)
    detail_weight: float = option(1.0, "weight of the detail BCE and of the detail Dice term", ge=0)
    weights: str | None = option(None, WEIGHTS_HELP)

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass(frozen=True)
class FasterSegOptions:
    """FasterSeg's searched student as a network of the ``fasterseg`` space: 1/16 and 1/32 branches of one
    operation and one width (see docs/model-zoo.md for what is FasterSeg's and what is ours)."""

    layers: int = option(16, "L: layers of FasterSeg's supernet", ge=3)
    channels: int = option(96, "full width at 1/8 (doubled at 1/16 and again at 1/32), FasterSeg's", ge=1)
    stem_channels: int = option(48, "width of the stem's first (stride-2) convolution, FasterSeg's", ge=1)
    head_channels: int = option(128, "width of the fusing head (ours)", ge=1)
    operation: str = option("conv_2x_downup", "every cell's operation (FasterSeg's student: mostly the zoomed "
                                              "two-conv operation)")
    width: int = option(4, "every cell's width in twelfths (FasterSeg's student: mostly 4/12)", ge=1, le=12)
    down16: int = option(2, "the layer at which both branches reach 1/16 (ours)", ge=1)
    down32: int = option(5, "the layer at which the 1/32 branch leaves the 1/16 one (ours)", ge=2)
    weights: str | None = option(None, WEIGHTS_HELP)

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.operation not in OPS:
            raise ValueError(f"operation '{self.operation}' is not one of FasterSeg's: {', '.join(OPS)}")
        if self.width not in WIDTHS:
            raise ValueError(f"width {self.width} is not one of FasterSeg's twelfths: {', '.join(map(str, WIDTHS))}")
        if not self.down16 < self.down32 < self.layers:
            raise ValueError(f"down16 ({self.down16}) < down32 ({self.down32}) < layers ({self.layers}) must hold: "
                             "each branch reaches its scale before the last layer")
