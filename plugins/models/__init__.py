"""The model zoo: the hand-designed real-time networks a searched one must beat, registered as ``models``.

Registration only (no torch): each name points to its factory with a lazy ``"module:attr"`` path. The models are
built from the papers' descriptions and trained from scratch; ``weights`` loads a user-supplied state dict.
"""

from __future__ import annotations

from gasnas import hookimpl
from gasnas_plugins.models.options import BiSeNetV1Options, BiSeNetV2Options, FasterSegOptions, STDCOptions

MODELS = "gasnas_plugins.models"


@hookimpl
def gasnas_register_models(registry) -> None:
    registry.add("bisenetv1-r18", f"{MODELS}.bisenetv1:bisenetv1_r18", options=BiSeNetV1Options,
                 description="BiSeNetV1 (ECCV'18) with a ResNet-18 context path")
    registry.add("bisenetv1-xception39", f"{MODELS}.bisenetv1:bisenetv1_xception39", options=BiSeNetV1Options,
                 description="BiSeNetV1 (ECCV'18) with an Xception39 context path")
    registry.add("bisenetv2", f"{MODELS}.bisenetv2:bisenetv2", options=BiSeNetV2Options,
                 description="BiSeNetV2 (IJCV'21): detail and semantic branches, guided aggregation, boosters")
    registry.add("stdc1", f"{MODELS}.stdc:stdc1", options=STDCOptions,
                 description="STDC1-Seg (CVPR'21): STDC [2,2,2] backbone, context path, detail-guided training")
    registry.add("stdc2", f"{MODELS}.stdc:stdc2", options=STDCOptions,
                 description="STDC2-Seg (CVPR'21): STDC [4,5,3] backbone, context path, detail-guided training")
    registry.add("fasterseg", f"{MODELS}.fasterseg:fasterseg", options=FasterSegOptions,
                 description="FasterSeg's searched student (ICLR'20): 16 layers, 1/16 and 1/32 branches of zoomed "
                             "two-conv cells at 4/12 width (the layout of the paths is ours)")
