"""The ``nni`` strategy: NNI 3.0's strategies on gasnas spaces, data and evaluators (registration only).

No torch or nni here: nni is the optional extra ``gasnas[nni]`` and is imported when a config uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gasnas import hookimpl
from gasnas.api import MAX_COUNT, NNI, SAMPLING, option
from gasnas_plugins.strategies.options import SupernetWeightOptions

#: NNI strategies that train one weight-sharing supernet (need a space with an NNI form: capability ``nni``)
ONE_SHOT = ("DARTS", "GumbelDARTS", "RandomOneShot")
#: NNI strategies that train and score one network per trial (any space that samples and builds)
MULTI_TRIAL = ("Random", "RegularizedEvolution")


@dataclass(frozen=True)
class NniStrategyOptions(SupernetWeightOptions):
    """An NNI strategy by its class name, with NNI's own keyword arguments, on gasnas's data and evaluator.

    The weights train with SGD and a cosine schedule (the options of
    :class:`~gasnas_plugins.strategies.options.SupernetWeightOptions`, with DARTS' defaults)."""

    algorithm: Literal["DARTS", "GumbelDARTS", "RandomOneShot", "Random", "RegularizedEvolution"] = option(
        "DARTS", "NNI strategy class (nni.nas.strategy): one-shot DARTS, GumbelDARTS, RandomOneShot; "
                 "multi-trial Random, RegularizedEvolution")
    kwargs: dict[str, Any] = option({}, "keyword arguments of the NNI strategy class, e.g. {arc_learning_rate: "
                                        "0.01} or {population_size: 8, sample_size: 4}")
    # the weights' options of SupernetWeightOptions, with DARTS' SGD defaults
    weight_lr: float = option(0.05, "SGD learning rate of the network weights (cosine schedule), as the "
                                    "differentiable strategy", gt=0, le=10)
    weight_lr_min: float = option(1e-3, "final learning rate of the weights", ge=0, le=10)
    weight_decay: float = option(3e-4, "weight decay of the weights", ge=0, le=1)
    top_k: int = option(5, "multi-trial: the best trained networks to return (NNI's one-shot export gives one)",
                        ge=1, le=1000)
    trials: int = option(10, "multi-trial: networks to train and score", ge=1, le=MAX_COUNT)
    trial_epochs: int = option(1, "multi-trial: epochs each network trains from scratch (steps capped by "
                                  "budget.steps_per_epoch)", ge=1, le=MAX_COUNT)
    penalty: float = option(0.0, "one-shot DARTS/GumbelDARTS: scale of NNI's ProfilerPenalty on the config's "
                                 "block-table latency estimator. NNI 3.0 computes it from detached probabilities, "
                                 "so it does not move the architecture; kept to compare like for like", ge=0,
                             le=1e6)
    val_batches: int | None = option(4, "validation batches scored by the gasnas evaluator (null: all)", ge=1,
                                     le=MAX_COUNT)

    def __post_init__(self) -> None:
        super().__post_init__()  # the declared ranges
        if self.penalty > 0 and self.algorithm not in ("DARTS", "GumbelDARTS"):
            raise ValueError(f"penalty: NNI's {self.algorithm} takes no latency penalty (DARTS and GumbelDARTS do)")

    def required_capabilities(self) -> dict[str, str]:
        """One-shot algorithms need the space's NNI form; multi-trial ones any space that samples (checked when
        the config loads)."""
        if self.algorithm not in ONE_SHOT:
            return {}
        return {NNI: f"algorithm {self.algorithm}: NNI's one-shot strategies relax the NNI modules of the space's "
                     "NNI form (LayerChoice, InputChoice, Repeat, Cell); Random and RegularizedEvolution run on any "
                     "space that samples"}


@hookimpl
def gasnas_register_strategies(registry) -> None:
    registry.add("nni", "gasnas_plugins.strategies.nni.strategy:NniStrategy", options=NniStrategyOptions,
                 requires=[SAMPLING],
                 description="NNI 3.0's strategies (DARTS, GumbelDARTS, RandomOneShot, Random, "
                             "RegularizedEvolution) on gasnas spaces with gasnas's data and evaluator (needs "
                             "gasnas[nni])")
