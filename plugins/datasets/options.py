"""The typed options of the default datasets. Imports no torch: the registry reads them at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from gasnas.api import MAX_COUNT, check_ranges, option

__all__ = ["AugmentOptions", "DigitScenesOptions", "CityscapesOptions", "CamVidOptions"]


@dataclass(frozen=True)
class AugmentOptions:
    """Training-time augmentation (evaluation never augments)."""

    scale: tuple[float, float] = option((0.5, 2.0), "random scale range; [1, 1] switches scaling off", gt=0)
    crop: tuple[int, int] | None = option((512, 1024), "random crop (height, width) after scaling, padded with "
                                                       "the ignore label where the image is smaller; null: the "
                                                       "image's size before scaling", ge=1)
    flip: bool = option(True, "random horizontal flips")

    def __post_init__(self) -> None:
        check_ranges(self)
        low, high = self.scale
        if low > high:
            raise ValueError(f"augment.scale must be [low, high] with 0 < low <= high, got {list(self.scale)}")


#: the smallest image side (height or width) in pixels a dataset is resized to or generates
MIN_SIDE = 8


@dataclass(frozen=True)
class DigitScenesOptions:
    """Street-like scenes of handwritten digits, generated on first use and cached."""

    size: tuple[int, int] = option((128, 256), "scene (height, width) in pixels", ge=MIN_SIDE)
    train_size: int = option(1000, "scenes in the train split", ge=1, le=MAX_COUNT)
    val_size: int = option(200, "scenes in the val split", ge=1, le=MAX_COUNT)
    test_size: int = option(200, "scenes in the test split", ge=1, le=MAX_COUNT)
    seed: int = option(0, "generator seed: the same seed always gives the same scenes", ge=0)
    digits_per_scene: tuple[int, int] = option((4, 7), "fewest and most signs carrying a digit in a scene", ge=0,
                                               le=MAX_COUNT)
    sign_size: tuple[int, int] = option((32, 64), "smallest and largest sign height in pixels for 128-pixel high "
                                                  "scenes (scaled with the scene height); a digit fills 65-80% of it",
                                        ge=8)
    empty_signs: int = option(1, "most blank signs (labelled background) in a scene", ge=0, le=MAX_COUNT)
    distractors: int = option(4, "most digit-like strokes (labelled background) in a scene", ge=0, le=MAX_COUNT)
    cache_dir: str | None = option(None, "where generated scenes are cached; null: $GASNAS_CACHE_DIR/digit-scenes, "
                                         "else $XDG_CACHE_HOME/gasnas/digit-scenes, else ~/.cache/gasnas/digit-scenes")
    augment: AugmentOptions = option(AugmentOptions(scale=(0.75, 1.25), crop=(64, 128), flip=False),
                                     "training augmentation: 64 x 128 crops at the scenes' scale (a quarter of a "
                                     "scene: four times cheaper a step); no flips: a mirrored digit is another "
                                     "shape")

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.digits_per_scene[0] > self.digits_per_scene[1]:
            raise ValueError(f"digits_per_scene must be [fewest, most] with 0 <= fewest <= most, "
                             f"got {list(self.digits_per_scene)}")
        if self.sign_size[0] > self.sign_size[1]:
            raise ValueError(f"sign_size must be [smallest, largest] with 8 <= smallest <= largest, "
                             f"got {list(self.sign_size)}")


@dataclass(frozen=True)
class CityscapesOptions:
    """Cityscapes in its official layout (leftImg8bit/, gtFine/)."""

    root: str = option("data/cityscapes", "folder holding leftImg8bit/ and gtFine/")
    size: tuple[int, int] | None = option(None, "(height, width) images are resized to before augmentation and for "
                                                "evaluation; null: the native 1024 x 2048", ge=MIN_SIDE)
    augment: AugmentOptions = option(AugmentOptions(), "training augmentation")

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass(frozen=True)
class CamVidOptions:
    """CamVid in the common 11-class layout (train/, trainannot/, val/, valannot/, test/, testannot/)."""

    root: str = option("data/camvid", "folder holding train/, trainannot/, val/, valannot/, test/, testannot/")
    size: tuple[int, int] | None = option(None, "(height, width) images are resized to before augmentation and for "
                                                "evaluation; null: the native 360 x 480 (or 720 x 960)",
                                          ge=MIN_SIDE)
    augment: AugmentOptions = option(AugmentOptions(crop=(360, 480)), "training augmentation")

    def __post_init__(self) -> None:
        check_ranges(self)
