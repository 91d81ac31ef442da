"""The typed options of ``gasnas train`` (no torch import: the CLI validates them before anything heavy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gasnas.api import LoaderBudget, option

__all__ = ["TrainOptions"]


@dataclass(frozen=True)
class TrainOptions(LoaderBudget):
    """How a fixed network is trained from scratch (the loader budget's fields are shared with searches)."""

    epochs: int = option(24, "passes over the training split")
    batch_size: int = option(8, "images per step")
    optimizer: Literal["sgd", "adamw"] = option(
        "adamw", "sgd (with momentum) or adamw (ours: AdamW at 3e-3, the short recipe measured on digit-scenes; "
                 "the papers' recipes use SGD, e.g. lr 0.01-0.05 and weight decay 5e-4)")
    lr: float = option(3e-3, "peak learning rate")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(1e-4, "weight decay (not applied to biases and normalisation parameters)")
    poly_power: float = option(0.9, "the poly schedule: lr * (1 - step / steps) ** poly_power")
    warmup_steps: int = option(0, "steps of linear warm-up before the poly schedule")
    aux_weight: float = option(0.4, "weight of each auxiliary loss, for models with auxiliary heads")
    class_weight_power: float = option(
        0.5, "class-weighted cross-entropy, w_c = f_c ** -p from the train split's pixel frequencies f_c (mean weight "
             "of a pixel 1): 0 is plain cross-entropy, 0.5 lifts rare classes, 1 is the inverse frequency")
    amp: bool = option(True, "mixed precision (float16 autocast and loss scaling) on CUDA; ignored on CPU")
    crop: tuple[int, int] | None = option(None, "training crop (height, width); null: the dataset's augment.crop")
    threads: int | None = option(None, "deprecated: the top-level `threads` (the same for searches and trainings)")
    steps_per_epoch: int | None = option(None, "cap on steps per epoch (null: one pass over the training split)")
    eval_every: int = option(1, "evaluate on the val split every this many epochs (and after the last)")
    eval_batch_size: int | None = option(None, "images per evaluation step (null: batch_size)")
    eval_split: str = option("val", "the split that picks the best checkpoint")
    grad_clip: float | None = option(None, "clip the gradient norm to this value (null: no clipping)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.eval_every < 1:
            raise ValueError("eval_every must be >= 1")
        if not 0 <= self.class_weight_power <= 2:
            raise ValueError("class_weight_power must be in [0, 2]")
        if self.lr <= 0 or self.weight_decay < 0 or self.poly_power < 0 or self.warmup_steps < 0:
            raise ValueError("lr must be > 0; weight_decay, poly_power and warmup_steps >= 0")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be >= 1 or null")
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            raise ValueError("eval_batch_size must be >= 1 or null")
        if self.crop is not None and min(self.crop) < 1:
            raise ValueError(f"crop must be positive (height, width), got {list(self.crop)}")
