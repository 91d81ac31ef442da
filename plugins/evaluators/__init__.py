"""The default evaluator ``segmentation`` (registration only; no torch import)."""

from __future__ import annotations

from gasnas import hookimpl
from gasnas_plugins.evaluators.options import SegmentationOptions


@hookimpl
def gasnas_register_evaluators(registry) -> None:
    registry.add("segmentation", "gasnas_plugins.evaluators.segmentation:SegmentationEvaluator",
                 options=SegmentationOptions,
                 description="mIoU (primary), per-class IoU and pixel accuracy from a confusion matrix kept on the "
                             "device; optional flip and multi-scale evaluation")
