"""The ``differentiable`` strategy (registration and options only; no torch imported here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gasnas import hookimpl
from gasnas.options import option
from gasnas.registry import SUPERNET


@dataclass(frozen=True)
class DifferentiableOptions:
    """One-shot supernet search with relaxed choices (DARTS softmax or SNAS Gumbel-softmax) and a latency term."""

    relaxation: Literal["softmax", "gumbel"] = option(
        "gumbel", "softmax: DARTS' continuous relaxation; gumbel: SNAS-style Gumbel-softmax samples")
    tau_start: float = option(1.0, "Gumbel-softmax temperature at the first search epoch")
    tau_end: float = option(0.2, "temperature at the last epoch (exponential decay in between)")
    warmup_epochs: int = option(2, "epochs that train the supernet weights only (architecture frozen)")
    bilevel: bool = option(True, "first-order bi-level: weights on one half of the train split, architecture "
                                 "on the other; false: one loss and one batch for both")
    arch_lr: float = option(3e-4, "Adam learning rate of the architecture parameters (and communicator)")
    arch_betas: tuple[float, float] = option((0.5, 0.999), "Adam betas of the architecture optimiser")
    arch_weight_decay: float = option(1e-3, "weight decay of the architecture parameters")
    weight_optimizer: Literal["sgd", "adamw"] = option("sgd", "optimiser of the supernet weights")
    weight_lr: float = option(0.05, "initial learning rate of the supernet weights (cosine schedule)")
    weight_lr_min: float = option(1e-3, "final learning rate of the supernet weights")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(3e-4, "weight decay of the supernet weights")
    grad_clip: float | None = option(5.0, "clip the weights' gradient norm (null: no clipping)")
    beta: float = option(0.0, "weight of the latency term in L = CE + beta * f(E[LAT])")
    latency_loss: Literal["linear", "log_ratio", "hinge"] = option(
        "linear", "f: linear: E/ref; log_ratio: log(E/target) (ProxylessNAS-style); hinge: max(0, E-target)/target. "
                  "ref is latency.target_ms, or E[LAT] of the uniform architecture when no target is set")
    resize: float = option(1.0, "scale images by this factor for the search (e.g. 0.5 on CPUs); latency is "
                                "always estimated at the dataset's input size")
    top_k: int = option(5, "how many architectures to derive, ranked by probability")
    val_batches: int | None = option(4, "validation batches per epoch for the supernet's val mIoU (null: all)")

    def __post_init__(self) -> None:
        if self.tau_start <= 0 or self.tau_end <= 0:
            raise ValueError("tau_start and tau_end must be > 0")
        if not 0 < self.resize <= 1:
            raise ValueError("resize must be in (0, 1]")
        if self.warmup_epochs < 0 or self.top_k < 1 or self.beta < 0:
            raise ValueError("warmup_epochs and beta must be >= 0, top_k >= 1")


@hookimpl
def gasnas_register_strategies(registry) -> None:
    registry.add("differentiable", "gasnas_plugins.strategies.differentiable.strategy:DifferentiableSearch",
                 options=DifferentiableOptions, requires=[SUPERNET],
                 description="one-shot supernet search, DARTS softmax or SNAS Gumbel-softmax relaxation, "
                             "differentiable latency term, communicators")
