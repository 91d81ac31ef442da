"""Registration and options of the ``random-search`` strategy. No torch here."""

from __future__ import annotations

from dataclasses import dataclass

from gasnas import hookimpl
from gasnas.api import MAX_COUNT, SAMPLING, check_ranges, option


@dataclass(frozen=True)
class RandomSearchOptions:
    """Sample architectures under a latency limit, train each briefly from scratch, keep the best."""

    trials_per_epoch: int = option(2, "architectures trained and scored per epoch (each epoch is checkpointed)",
                                   ge=1, le=MAX_COUNT)
    train_steps: int = option(20, "training steps of each architecture", ge=1, le=MAX_COUNT)
    lr: float = option(0.01, "Adam learning rate of each trial", gt=0)
    val_batches: int = option(2, "val batches each trial is scored on", ge=1, le=MAX_COUNT)
    latency_limit: float | None = option(None, "latency limit in the estimator's unit (null: latency.target; "
                                               "none at all: no filter)", gt=0)
    max_tries: int = option(100, "random architectures tried to find one under the limit", ge=1, le=MAX_COUNT)
    top_k: int = option(3, "architectures returned, best first", ge=1, le=MAX_COUNT)

    def __post_init__(self) -> None:
        check_ranges(self)  # the ranges declared above, for options built in code too


@hookimpl
def gasnas_register_strategies(registry) -> None:
    registry.add("random-search", "random_search.strategy:RandomSearch", options=RandomSearchOptions,
                 requires=[SAMPLING], description="random architectures under a latency limit, each trained "
                                                  "briefly and scored on val (example plugin)")
