"""The ``evolution`` strategy (registration and options only; no torch imported here)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from gasnas import hookimpl
from gasnas.api import MAX_COUNT, SAMPLING, SUPERNET, OptionValueError, option
from gasnas_plugins.strategies.options import SupernetTrainingOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvolutionOptions(SupernetTrainingOptions):
    """Single-path one-shot supernet training, then regularized evolution under a hard latency limit.

    ``budget.epochs`` counts both phases: the first ``budget.epochs - generations`` epochs train the supernet,
    the last ``generations`` evolve. The supernet weights' options come from
    :class:`~gasnas_plugins.strategies.options.SupernetTrainingOptions`.
    """

    generations: int = option(2, "epochs of evolution at the end of budget.epochs: the first evaluates the random "
                                 "initial population, each later one `population` children", ge=1, le=MAX_COUNT)
    path_sampling: Literal["uniform", "under_limit"] = option(
        "uniform", "paths trained in the supernet: uniform over the space, or only those under the latency limit")
    population: int = option(16, "architectures alive in the population (regularized evolution's P)", ge=2,
                             le=MAX_COUNT)
    sample_size: int = option(4, "architectures drawn from the population to pick a parent (tournament, S)", ge=1,
                              le=MAX_COUNT)
    mutation_prob: float = option(0.1, "probability that a child changes each choice (at least one changes)", ge=0,
                                  le=1)
    latency_limit: float | None = option(
        None, "deprecated: the hard limit is the latency target (latency.target, in the estimator's unit, or "
              "latency.target_relative), the one name every strategy reads; without a target, the "
              "`limit_quantile` of the estimated latency of random architectures", gt=0)
    limit_quantile: float = option(0.5, "quantile of random architectures' latency used when no limit is set",
                                   gt=0, le=1)
    limit_samples: int = option(32, "random architectures whose latency sets the limit when none is given",
                               ge=1, le=MAX_COUNT)
    max_tries: int = option(200, "random or mutated architectures tried to find one under the limit", ge=1,
                            le=MAX_COUNT)
    fitness: Literal["metric", "loss"] = option(
        "metric", "what ranks candidates: metric: the evaluator's val metric of their path, the val cross-entropy "
                  "breaking ties; loss: the val cross-entropy (then the metric), which tells the paths of a young "
                  "supernet apart where the metric cannot, but on digit-scenes picked a worse network")
    bn_batches: int = option(2, "train batches that recalibrate each candidate's BN statistics before scoring",
                             ge=0, le=MAX_COUNT)
    val_batches: int | None = option(2, "val batches that score each candidate (null: the whole val split)",
                                      ge=1, le=MAX_COUNT)
    children_at_once: int | None = option(
        None, "children bred from the population as it stands and scored together (null: one, Real et al.'s "
              "sequential step); more lets an executor (executor.name: ray) score them at the same time -- ours, "
              "like the paper's parallel workers but deterministic: the result depends on this number, never on "
              "the executor", ge=1, le=MAX_COUNT)

    def __post_init__(self) -> None:
        super().__post_init__()  # the declared ranges
        if self.sample_size > self.population:
            raise OptionValueError("sample_size", f"{self.sample_size} exceeds population ({self.population})")
        if self.children_at_once is not None and self.children_at_once > self.population:
            raise OptionValueError("children_at_once", f"{self.children_at_once} exceeds population "
                                                       f"({self.population}): a generation breeds `population` "
                                                       "children")

    def check_config(self, config) -> Iterator[tuple[str, str]]:
        """Rules across sections, checked when the config loads."""
        if config.budget.epochs <= self.generations:
            yield ("strategy.params.generations", f"budget.epochs ({config.budget.epochs}) must exceed "
                   f"strategy.params.generations ({self.generations}): the first epochs train the supernet, the "
                   "last `generations` evolve; raise budget.epochs or lower generations")
        if self.latency_limit is None:
            return
        latency = config.latency
        if latency is not None and (latency.target is not None or latency.target_relative is not None):
            yield ("strategy.params.latency_limit", "deprecated, and a latency target is set too: the latency "
                   "target is the limit; remove strategy.params.latency_limit")
            return
        log.warning("%s: strategy.params.latency_limit is deprecated; set latency.target: %g (in the estimator's "
                    "unit) instead", config.source, self.latency_limit)


@hookimpl
def gasnas_register_strategies(registry) -> None:
    registry.add("evolution", "gasnas_plugins.strategies.evolution.strategy:EvolutionSearch",
                 options=EvolutionOptions, requires=[SUPERNET, SAMPLING],
                 description="single-path one-shot supernet, then regularized evolution scored by val mIoU "
                             "(BN recalibrated) under a hard latency limit; exports the Pareto set")
