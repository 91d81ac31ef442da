"""Options of the network weights, shared by the strategies that train them (no torch imported here).

- :class:`SupernetWeightOptions`: the weights' learning-rate schedule (``weight_lr`` down to ``weight_lr_min``,
  cosine), ``momentum`` and ``weight_decay`` -- what every strategy here that trains weights reads (``nni``).
- :class:`SupernetTrainingOptions`: those, plus the optimiser, gradient clipping, the class-weighted loss and
  the image scale of a gasnas supernet training loop (``differentiable``, ``evolution``).

A strategy's options subclass one of them and may redeclare a field to change its default and help text (the
``nni`` strategy trains with DARTS' SGD at 0.05); a subclass's ``__post_init__`` calls ``super().__post_init__()``.
The weights' optimiser itself is :func:`gasnas_plugins.strategies.supernet.weight_optimizer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gasnas.api import OptionValueError, option

__all__ = ["SupernetWeightOptions", "SupernetTrainingOptions"]


@dataclass(frozen=True)
class SupernetWeightOptions:
    """How the network weights learn: a cosine schedule from ``weight_lr`` to ``weight_lr_min``."""

    weight_lr: float = option(3e-3, "initial learning rate of the supernet weights (cosine schedule)")
    weight_lr_min: float = option(1e-4, "final learning rate of the supernet weights")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(1e-4, "weight decay of the supernet weights")

    def __post_init__(self) -> None:
        if self.weight_lr <= 0:
            raise OptionValueError("weight_lr", "weight_lr must be > 0")
        if self.weight_lr_min < 0:
            raise OptionValueError("weight_lr_min", "weight_lr_min must be >= 0")
        if not 0 <= self.momentum < 1:
            raise OptionValueError("momentum", "momentum must be in [0, 1)")
        if self.weight_decay < 0:
            raise OptionValueError("weight_decay", "weight_decay must be >= 0")


@dataclass(frozen=True)
class SupernetTrainingOptions(SupernetWeightOptions):
    """A gasnas supernet training loop: the weights' optimiser, clipping, loss weighting and image scale."""

    weight_optimizer: Literal["sgd", "adamw"] = option(
        "adamw", "optimiser of the supernet weights (ours: AdamW, whose supernets learn faster in short budgets "
                 "than DARTS' SGD at 0.05; sgd for DARTS' recipe)")
    grad_clip: float | None = option(5.0, "clip the weights' gradient norm (null or 0: no clipping)")
    class_weight_power: float = option(
        0.5, "class-weighted cross-entropy of the search's losses, w_c = f_c ** -p from the train split's pixel "
             "frequencies (0: plain cross-entropy)")
    resize: float = option(1.0, "scale images by this factor while searching (e.g. 0.5 on CPUs); latency is always "
                                "estimated at the dataset's input size")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.grad_clip is not None and self.grad_clip < 0:
            raise OptionValueError("grad_clip", "grad_clip must be >= 0 (null or 0: no clipping)")
        if not 0 <= self.class_weight_power <= 2:
            raise OptionValueError("class_weight_power", "class_weight_power must be in [0, 2]")
        if not 0 < self.resize <= 1:
            raise OptionValueError("resize", "resize must be in (0, 1]")
