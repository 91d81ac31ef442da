"""The ``differentiable`` strategy (registration and options only; no torch imported here)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from gasnas import hookimpl
from gasnas.api import MAX_COUNT, SUPERNET, check_ranges, option
from gasnas_plugins.strategies.options import SupernetTrainingOptions

LATENCY_LOSSES = ("linear", "log_ratio", "hinge", "absolute", "lagrangian")
#: latency losses that steer toward (or below) a target and so need one
TARGET_LOSSES = ("log_ratio", "hinge", "absolute", "lagrangian")


@dataclass(frozen=True)
class LatencyController:
    """After every search epoch, the latency term's weight is multiplied by ``factor`` when the derived network's
    latency is above the band and divided by it when below (FasterSeg's: halved at >= 175 FPS, doubled at <= 155
    FPS, i.e. the band 5.7-6.5 ms)."""

    band: tuple[float, float] = option((0.9, 1.0), "the band [low, high] the derived network's latency should end "
                                                   "in (ours: 0.9-1.0 of the target)", gt=0)
    relative: bool = option(True, "band in fractions of the latency target; false: in the estimator's unit")
    factor: float = option(2.0, "the weight is multiplied (above the band) or divided (below) by this", gt=1,
                           le=1e3)

    def __post_init__(self) -> None:
        check_ranges(self)
        if not self.band[0] < self.band[1]:
            raise ValueError(f"latency_controller.band {list(self.band)} must be [low, high] with low < high")


@dataclass(frozen=True)
class DifferentiableOptions(SupernetTrainingOptions):
    """One-shot supernet search with relaxed choices (DARTS softmax, SNAS Gumbel-softmax or GDAS hard Gumbel
    samples), a latency term, and a derivation that meets the latency target. The supernet weights' options
    come from :class:`~gasnas_plugins.strategies.options.SupernetTrainingOptions`."""

    relaxation: Literal["softmax", "gumbel", "hard_gumbel", "sampled"] = option(
        "sampled", "softmax: DARTS' continuous relaxation (every candidate computed); gumbel: SNAS-style "
                   "Gumbel-softmax samples (every candidate computed); hard_gumbel: GDAS-style one-hot Gumbel "
                   "samples (k-hot with gumbel_paths k) with a straight-through gradient; sampled: paths drawn from "
                   "the distribution, the architecture's gradient by the score function over `paths` paths run on "
                   "one batch (ProxylessNAS / TuNAS REINFORCE). hard_gumbel and sampled compute one candidate per "
                   "choice (hard_gumbel: gumbel_paths of them): a step costs about one network")
    paths: int = option(4, "sampled: paths drawn per architecture step, each run on the same batch (forward only)",
                        ge=2, le=1024)
    gumbel_paths: int = option(
        1, "hard_gumbel: k, the candidates drawn per choice per step -- the top k of the Gumbel-perturbed logits "
           "(Gumbel-top-k: k draws without replacement), each weighted 1/k in the forward pass (the edge averages "
           "them, its output on the scale of one candidate's whatever k), with the straight-through gradient of "
           "the Gumbel-softmax to the logits; clamped to the candidates a choice has. 1: GDAS' one path. A step "
           "costs about k networks", ge=1, le=MAX_COUNT)
    partial_channels: int = option(
        1, "PC-DARTS' K: every mixed edge of the supernet sends 1/K of its channels through its candidates, the "
           "rest bypass them (max-pooled across a stride) and a channel shuffle interleaves both (about K times "
           "less memory and compute in the mixed operations; the derived networks keep their full width). Needs "
           "a space that supports it (gas, dcnas) and K dividing its widths; 1: off", ge=1, le=64)
    edge_normalization: bool = option(
        False, "PC-DARTS' edge normalisation: per node, learned weights over its incoming edges (softmax) scale "
               "each edge's mixed output and enter the derivation's edge score (edge weight times operation "
               "weight); PC-DARTS pairs it with partial_channels to steady which edges are kept. The edge weights "
               "are always a plain softmax, whatever the relaxation (sampled: its paths then run with a gradient "
               "to them, holding `paths` networks' activations). Needs a space whose nodes sum edges (gas, dcnas)")
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
    latency_granularity: Literal["coupled", "decoupled"] = option(
        "coupled", "coupled: one E[LAT] relaxing every choice; decoupled: FasterSeg's form, E[LAT] computed once per "
                   "decision granularity of the space's choices (op, path, width), each relaxing only its own choices "
                   "(the others held, see latency_hold), combined as sum_g w_g E_g (latency_weights) in the same "
                   "loss f. Equal to coupled in a space whose choices are all operations (gas)")
    latency_weights: dict[str, float] | None = option(
        None, "decoupled: weight of each granularity, normalised to sum 1 (so the total weight stays beta); null: "
              "the space's (fasterseg: FasterSeg's 1/500, 497/500, 2/500 for op, path, width), else equal")
    latency_hold: Literal["uniform", "argmax"] = option(
        "uniform", "decoupled: where a term holds the choices it does not relax: uniform (FasterSeg's, for operations "
                   "and paths) or their current argmax; a choice the space gives a held candidate (fasterseg's "
                   "widths: the full width, as FasterSeg) is held there")
    # None first: a null in a written config is "off", not a controller with the defaults (parse_value tries the
    # union's members in order, and a dataclass builds from null)
    latency_controller: None | LatencyController = option(
        None, "adapt the latency weight after every search epoch to keep the derived network's latency in a band "
              "(FasterSeg's controller; null: off). Not with latency_loss lagrangian, whose multiplier adapts already")
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

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, weight in (self.latency_weights or {}).items():
            if not (weight >= 0):
                raise ValueError(f"latency_weights.{name} ({weight}) must be >= 0")
        if self.latency_weights is not None and not sum(self.latency_weights.values()) > 0:
            raise ValueError("latency_weights must not all be 0")
        if self.gumbel_paths > 1 and self.relaxation != "hard_gumbel":
            raise ValueError(f"gumbel_paths ({self.gumbel_paths}) is read only by relaxation: hard_gumbel (got "
                             f"'{self.relaxation}'); set relaxation: hard_gumbel, or remove gumbel_paths")

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
        decoupled_only = self.latency_weights is not None or self.latency_hold != "uniform"
        if self.latency_granularity == "coupled" and decoupled_only:
            key = "latency_weights" if self.latency_weights is not None else "latency_hold"
            yield (f"strategy.params.{key}", "is read only by the decoupled latency term: set latency_granularity: "
                   "decoupled, or remove it")
        control = self.latency_controller
        if control is not None:
            if self.latency_loss == "lagrangian":
                yield ("strategy.params.latency_controller", "the lagrangian multiplier adapts the latency weight "
                       "already; use the controller with latency_loss linear, log_ratio, hinge or absolute")
            elif self.beta <= 0:
                yield ("strategy.params.latency_controller", "adapts the latency weight beta, which is 0: set beta")
            if control.relative and not has_target:
                yield ("strategy.params.latency_controller.relative", "a band relative to the target needs "
                       "latency.target or latency.target_relative (or relative: false and a band in the "
                       "estimator's unit)")
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
    from gasnas_plugins.strategies.differentiable.cosearch_options import CoSearchOptions

    registry.add("cosearch", "gasnas_plugins.strategies.differentiable.cosearch:CoSearch",
                 options=CoSearchOptions, requires=[SUPERNET],
                 description="FasterSeg's teacher-student co-search: the differentiable search of the student (widths, "
                             "latency term) and of a full-width teacher without latency term over one supernet; "
                             "both architectures exported")
