"""Registration and options of the ``random-search`` strategy. No torch here."""

from __future__ import annotations

from dataclasses import dataclass

from gasnas import hookimpl
from gasnas.api import SAMPLING, option


@dataclass(frozen=True)
class RandomSearchOptions:
    """Sample architectures under a latency limit, train each briefly from scratch, keep the best."""

    trials_per_epoch: int = option(2, "architectures trained and scored per epoch (each epoch is checkpointed)")
    train_steps: int = option(20, "training steps of each architecture")
    lr: float = option(0.01, "Adam learning rate of each trial")
    val_batches: int = option(2, "val batches each trial is scored on")
    latency_limit: float | None = option(None, "latency limit in the estimator's unit (null: latency.target; "
                                               "none at all: no filter)")
    max_tries: int = option(100, "random architectures tried to find one under the limit")
    top_k: int = option(3, "architectures returned, best first")

    def __post_init__(self) -> None:
        if min(self.trials_per_epoch, self.train_steps, self.val_batches, self.max_tries, self.top_k) < 1:
            raise ValueError("trials_per_epoch, train_steps, val_batches, max_tries and top_k must be >= 1")


@hookimpl
def gasnas_register_strategies(registry) -> None:
    registry.add("random-search", "random_search.strategy:RandomSearch", options=RandomSearchOptions,
                 requires=[SAMPLING], description="random architectures under a latency limit, each trained "
                                                  "briefly and scored on val (example plugin)")
