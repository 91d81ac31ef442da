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

from gasnas.api import check_ranges, option

__all__ = ["SupernetWeightOptions", "SupernetTrainingOptions"]


@dataclass(frozen=True)
class SupernetWeightOptions:
    """How the network weights learn: a cosine schedule from ``weight_lr`` to ``weight_lr_min``."""

    weight_lr: float = option(3e-3, "initial learning rate of the supernet weights (cosine schedule)", gt=0, le=10)
    weight_lr_min: float = option(1e-4, "final learning rate of the supernet weights", ge=0, le=10)
    momentum: float = option(0.9, "SGD momentum", ge=0, lt=1)
    weight_decay: float = option(1e-4, "weight decay of the supernet weights", ge=0, le=1)

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass(frozen=True)
class SupernetTrainingOptions(SupernetWeightOptions):
    """A gasnas supernet training loop: the weights' optimiser, clipping, loss weighting and image scale."""

    weight_optimizer: Literal["sgd", "adamw"] = option(
        "adamw", "optimiser of the supernet weights (ours: AdamW, whose supernets learn faster in short budgets "
                 "than DARTS' SGD at 0.05; sgd for DARTS' recipe)")
    grad_clip: float | None = option(5.0, "clip the weights' gradient norm (null or 0: no clipping)", ge=0)
    class_weight_power: float = option(
        0.5, "class-weighted cross-entropy of the search's losses, w_c = f_c ** -p from the train split's pixel "
             "frequencies (0: plain cross-entropy)", ge=0, le=2)
    resize: float = option(1.0, "scale images by this factor while searching (e.g. 0.5 on CPUs); latency is always "
                                "estimated at the dataset's input size", gt=0, le=1)
