"""The typed options of ``gasnas train`` (no torch import: the CLI validates them before anything heavy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gasnas.api import MAX_COUNT, MAX_THREADS, LoaderBudget, OptionValueError, check_ranges, option

__all__ = ["TrainOptions", "DistillOptions"]


@dataclass(frozen=True)
class DistillOptions:
    """Knowledge distillation from a trained teacher: loss = CE + weight * T^2 * KL(softmax(t / T) || softmax(s / T))
    per pixel, t and s the teacher's and the student's logits (FasterSeg trains its searched student against its
    trained teacher this way; the defaults are ours)."""

    teacher: str | None = option(None, "the teacher network: a gasnas train run directory (its best.pt) or a "
                                       "checkpoint written by gasnas train (required)")
    temperature: float = option(1.0, "T: both networks' logits are divided by T before the softmax, and the term "
                                     "is multiplied by T^2 so that its gradients keep their size", gt=0, le=100)
    weight: float = option(1.0, "weight of the distillation term beside the cross-entropy", ge=0, le=1000)

    def __post_init__(self) -> None:
        check_ranges(self)
        if not self.teacher:
            raise OptionValueError("teacher", "required: the path of the teacher's gasnas train run directory or "
                                              "checkpoint (train it first: gasnas train ARCHITECTURE_OR_MODEL)")


@dataclass(frozen=True)
class TrainOptions(LoaderBudget):
    """How a fixed network is trained from scratch (the loader budget's fields are shared with searches)."""

    epochs: int = option(24, "passes over the training split", ge=1, le=MAX_COUNT)
    batch_size: int = option(8, "images per step", ge=1, le=MAX_COUNT)
    optimizer: Literal["sgd", "adamw"] = option(
        "adamw", "sgd (with momentum) or adamw (ours: AdamW at 3e-3, the short recipe measured on digit-scenes; "
                 "the papers' recipes use SGD, e.g. lr 0.01-0.05 and weight decay 5e-4)")
    lr: float = option(3e-3, "peak learning rate", gt=0)
    momentum: float = option(0.9, "SGD momentum", ge=0, lt=1)
    weight_decay: float = option(1e-4, "weight decay (not applied to biases and normalisation parameters)", ge=0)
    poly_power: float = option(0.9, "the poly schedule: lr * (1 - step / steps) ** poly_power", ge=0)
    warmup_steps: int = option(0, "steps of linear warm-up before the poly schedule", ge=0, le=MAX_COUNT)
    aux_weight: float = option(0.4, "weight of each auxiliary loss, for models with auxiliary heads", ge=0)
    class_weight_power: float = option(
        0.5, "class-weighted cross-entropy, w_c = f_c ** -p from the train split's pixel frequencies f_c (mean weight "
             "of a pixel 1): 0 is plain cross-entropy, 0.5 lifts rare classes, 1 is the inverse frequency",
        ge=0, le=2)
    amp: bool = option(True, "mixed precision (float16 autocast and loss scaling) on CUDA; ignored on CPU")
    crop: tuple[int, int] | None = option(None, "training crop (height, width); null: the dataset's augment.crop",
                                          ge=1)
    threads: int | None = option(None, "deprecated: the top-level `threads` (the same for searches and trainings)",
                                 ge=1, le=MAX_THREADS)
    steps_per_epoch: int | None = option(None, "cap on steps per epoch (null: one pass over the training split)",
                                         ge=1, le=MAX_COUNT)
    eval_every: int = option(1, "evaluate on the val split every this many epochs (and after the last)", ge=1,
                             le=MAX_COUNT)
    eval_batch_size: int | None = option(None, "images per evaluation step (null: batch_size)", ge=1, le=MAX_COUNT)
    eval_split: str = option("val", "the split that picks the best checkpoint")
    grad_clip: float | None = option(None, "clip the gradient norm to this value (null: no clipping)", gt=0)
    init: str | None = option(None, "weights file to start from (a state dict, a checkpoint holding one, a gasnas "
                                    "best.pt, or a layout the model declares, e.g. torchvision's ResNet-18 for "
                                    "bisenetv1-r18); null: from scratch")
    init_mode: Literal["strict", "partial"] = option(
        "strict", "strict: every tensor of the file must fit (the part its layout fills) or the run stops; partial: "
                  "load what fits and report the rest")
    distill: DistillOptions | None = option(
        None, "knowledge distillation from a trained teacher ({teacher: PATH, temperature, weight}); null: none")
    # no __post_init__ of its own: LoaderBudget's checks the ranges of every field, these included
