"""The default datasets: ``digit-scenes`` (embedded, nothing to download), ``cityscapes`` and ``camvid``.

This module only registers them (no torch import); each lives in its own module.
"""

from __future__ import annotations

from gasnas import hookimpl
from gasnas_plugins.datasets.options import CamVidOptions, CityscapesOptions, DigitScenesOptions


@hookimpl
def gasnas_register_datasets(registry) -> None:
    registry.add("digit-scenes", "gasnas_plugins.datasets.digit_scenes:DigitScenes", options=DigitScenesOptions,
                 description="street-like scenes of real handwritten digits (scikit-learn's 8x8 digits), "
                             "11 classes; generated on first use and cached, nothing to download")
    registry.add("cityscapes", "gasnas_plugins.datasets.cityscapes:Cityscapes", options=CityscapesOptions,
                 description="Cityscapes fine annotations in the official layout, 19 classes")
    registry.add("camvid", "gasnas_plugins.datasets.camvid:CamVid", options=CamVidOptions,
                 description="CamVid in the common 11-class layout (train/, trainannot/, ...), void ignored")
