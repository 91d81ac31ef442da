"""The ``differentiable`` strategy (registration and options only; no torch imported here)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from gasnas import hookimpl
from gasnas.api import MAX_COUNT, SUPERNET, option
from gasnas_plugins.strategies.options import SupernetTrainingOptions

LATENCY_LOSSES = ("linear", "log_ratio", "hinge", "absolute", "lagrangian")
#: latency losses that steer toward (or below) a target and so need one
TARGET_LOSSES = ("log_ratio", "hinge", "absolute", "lagrangian")


@dataclass(frozen=True)
class DifferentiableOptions(SupernetTrainingOptions):
    """One-shot supernet search with relaxed choices (DARTS softmax, SNAS Gumbel-softmax or GDAS hard Gumbel
    samples), a latency term, and a derivation that meets the latency target. The supernet weights' options
    come from :class:`~gasnas_plugins.strategies.options.SupernetTrainingOptions`."""

    relaxation: Literal["softmax", "gumbel", "hard_gumbel", "sampled"] = option(
        "sampled", "softmax: DARTS' continuous relaxation (every candidate computed); gumbel: SNAS-style "
                   "Gumbel-softmax samples (every candidate computed); hard_gumbel: GDAS-style one-hot Gumbel "
                   "samples with a straight-through gradient; sampled: paths drawn from the distribution, the "
                   "architecture's gradient by the score function over `paths` paths run on one batch "
                   "(ProxylessNAS / TuNAS REINFORCE). hard_gumbel and sampled compute one candidate per choice: "
                   "a step costs about one network")
    paths: int = option(4, "sampled: paths drawn per architecture step, each run on the same batch (forward only)",
                        ge=2, le=1024)
    tau_start: float = option(1.0, "Gumbel-softmax temperature at the first search epoch", gt=0, le=1000)
    tau_end: float = option(0.2, "temperature at the last epoch (exponential decay in between)", gt=0, le=1000)
    warmup_epochs: int | None = option(
        None, "epochs that train the supernet weights only (architecture frozen; hard_gumbel: uniform paths); "
              "null: warmup_fraction of budget.epochs", ge=0, le=MAX_COUNT)
    warmup_fraction: float = option(0.4, "the warm-up's share of budget.epochs when warmup_epochs is null", ge=0,
                                    lt=1)
    warmup_paths: Literal["single", "relaxed"] = option(
        "single", "what a warm-up step trains: single: one uniformly sampled candidate per choice (single-path, "
                  "every candidate trained alike, at the cost of one network); relaxed: the relaxation at uniform "
                  "architecture parameters (every candidate, every step)")
    bilevel: bool = option(True, "first-order bi-level: weights on one half of the train split, architecture "
                                 "on the other; false: one loss and one batch for both")
    arch_lr: float = option(3e-3, "Adam learning rate of the architecture parameters (and communicator)", gt=0,
                            le=10)
    arch_betas: tuple[float, float] = option((0.5, 0.999), "Adam betas of the architecture optimiser", ge=0, lt=1)
    arch_weight_decay: float = option(1e-3, "weight decay of the architecture parameters", ge=0, le=1)
    beta: float = option(0.0, "weight of the latency term in L = CE + beta * f(E[LAT]) (lagrangian: the "
                              "multiplier it starts from; the term is on whenever there is a target)", ge=0,
                         le=1e6)
    latency_loss: Literal["linear", "log_ratio", "hinge", "absolute", "lagrangian"] = option(
        "lagrangian", "f: linear: E/ref (a constant push, no target); log_ratio: log(E/T); hinge: max(0, E/T - 1); "
                      "absolute: |E/T - 1| (pulls toward T from both sides); lagrangian: lambda (E/T - 1) with "
                      "lambda >= 0 raised while E > T and lowered while E < T (a constraint E <= T). T is the "
                      "latency target (latency.target or target_relative); ref is T, else the space's median")
    dual_lr: float = option(1.0, "lagrangian: how fast lambda moves, per architecture step, per unit of E/T - 1",
                            ge=0, le=1e6)
    derivation: Literal["target", "limit", "argmax"] = option(
        "target", "with a latency target: target: the most probable architecture as close to the target as it "
                  "allows from below (log-probability traded against estimated latency); limit: the most probable "
                  "one under the target; argmax: ignore the target. Without a target: argmax")
    max_skips: int | None = option(
        2, "at most this many skip connections (candidates named skip_connect) per cell of a derived architecture: "
           "P-DARTS' cap against skip collapse, applied at derivation (null: no cap)", ge=0, le=MAX_COUNT)
    top_k: int = option(5, "how many architectures to derive, ranked by probability", ge=1, le=1000)
    val_batches: int | None = option(4, "validation batches per epoch for the supernet's val mIoU (null: all)",
                                      ge=1, le=MAX_COUNT)

    def warmup_of(self, epochs: int) -> int:
        """Warm-up epochs within a budget of ``epochs``."""
        return self.warmup_epochs if self.warmup_epochs is not None else round(self.warmup_fraction * epochs)

    def check_config(self, config) -> Iterator[tuple[str, str]]:
        """Rules across sections, checked when the config loads (``gasnas config check`` included)."""
        latency = config.latency
        has_target = latency is not None and (latency.target is not None or latency.target_relative is not None)
        if self.beta > 0 and self.latency_loss in TARGET_LOSSES and not has_target:
            yield ("strategy.params.latency_loss",
                   f"'{self.latency_loss}' needs a latency target: set latency.target (in the estimator's unit) or "
                   "latency.target_relative, or use latency_loss: linear for a push toward faster networks "
                   "without a target")
        if self.beta > 0 and latency is None:
            yield "strategy.params.beta", "a latency term needs a latency section (an estimator): add one or set beta: 0"
        warmup = self.warmup_of(config.budget.epochs)
        if warmup >= config.budget.epochs:
            key = "warmup_epochs" if self.warmup_epochs is not None else "warmup_fraction"
            yield (f"strategy.params.{key}", f"{warmup} warm-up epochs leave no search epoch in budget.epochs "
                   f"({config.budget.epochs}); lower it or raise budget.epochs")


@hookimpl
def gasnas_register_strategies(registry) -> None:
    registry.add("differentiable", "gasnas_plugins.strategies.differentiable.strategy:DifferentiableSearch",
                 options=DifferentiableOptions, requires=[SUPERNET],
                 description="one-shot supernet search (DARTS softmax, SNAS Gumbel-softmax, GDAS hard Gumbel), "
                             "latency term toward a target, communicators, latency-aware derivation")
