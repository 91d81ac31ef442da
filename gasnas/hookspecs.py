"""The hooks gasnas calls: one registration hook per component kind, and the engine's event hooks.

A plugin is a module (or object) with functions decorated by :data:`gasnas.hookimpl` whose names are the hooks
below. Registration hooks receive the registry of their kind and add components to it::

    from gasnas import hookimpl

    @hookimpl
    def gasnas_register_strategies(registry):
        registry.add("random", "my_pkg.random:RandomSearch", options=RandomOptions, requires=["sampling"])

Event hooks are called by the engine on the main process only (rank 0 under distributed training); the step and
epoch hooks by ``gasnas train`` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from gasnas.architecture import Architecture
    from gasnas.registry import (
        CommandRegistry,
        CommunicatorRegistry,
        DatasetRegistry,
        EvaluatorRegistry,
        ExecutorRegistry,
        LatencyEstimatorRegistry,
        ModelRegistry,
        SearchSpaceRegistry,
        StrategyRegistry,
    )
    from gasnas.run import RunInfo, SearchResult

PROJECT = "gasnas"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- registration hooks ------------------------------------------------------------------------------------------

@hookspec
def gasnas_register_search_spaces(registry: SearchSpaceRegistry) -> None:
    """Register search spaces: families of networks described by labelled choices."""


@hookspec
def gasnas_register_strategies(registry: StrategyRegistry) -> None:
    """Register search strategies, each stating the space capabilities it requires."""


@hookspec
def gasnas_register_latency_estimators(registry: LatencyEstimatorRegistry) -> None:
    """Register latency estimators: lookup tables, runtimes that time whole networks, analytic proxies."""


@hookspec
def gasnas_register_evaluators(registry: EvaluatorRegistry) -> None:
    """Register evaluators: they score a network on data (they never time it)."""


@hookspec
def gasnas_register_communicators(registry: CommunicatorRegistry) -> None:
    """Register communicators: modules through which cells' architecture parameters exchange information."""


@hookspec
def gasnas_register_datasets(registry: DatasetRegistry) -> None:
    """Register segmentation datasets."""


@hookspec
def gasnas_register_models(registry: ModelRegistry) -> None:
    """Register fixed networks (a model zoo) that train, evaluate and benchmark like searched ones."""


@hookspec
def gasnas_register_executors(registry: ExecutorRegistry) -> None:
    """Register executors: they run independent tasks (candidate scoring, retraining) here or on a cluster."""


@hookspec
def gasnas_register_commands(registry: CommandRegistry) -> None:
    """Register click commands that become ``gasnas <name>`` subcommands."""


# -- event hooks ---------------------------------------------------------------------------------------------

@hookspec
def gasnas_search_started(run: RunInfo) -> None:
    """A search starts (or resumes: ``run.resumed_from_epoch`` is then set)."""


@hookspec
def gasnas_step_ended(run: RunInfo, step: int, metrics: Mapping[str, float]) -> None:
    """A training step of a search or of ``gasnas train`` ended (``run.kind`` says which); ``step`` counts the
    run's steps from 0 (a resumed run continues the count) and ``metrics`` holds that step's values (e.g. ``ce``)."""


@hookspec
def gasnas_epoch_ended(run: RunInfo, epoch: int, metrics: Mapping[str, float]) -> None:
    """An epoch of a search or of ``gasnas train`` ended (``run.kind`` says which); ``metrics`` is what was
    appended to ``metrics.jsonl`` for it."""


@hookspec
def gasnas_architecture_derived(run: RunInfo, architecture: Architecture, rank: int) -> None:
    """The strategy derived an architecture; ``rank`` is its place among the top-k (0 is the best)."""


@hookspec
def gasnas_search_finished(run: RunInfo, result: SearchResult) -> None:
    """The search finished and its files are written; plugins may add files to ``run.directory``."""


REGISTRATION_HOOKS = (
    "gasnas_register_search_spaces",
    "gasnas_register_communicators",
    "gasnas_register_strategies",
    "gasnas_register_latency_estimators",
    "gasnas_register_evaluators",
    "gasnas_register_datasets",
    "gasnas_register_models",
    "gasnas_register_executors",
    "gasnas_register_commands",
)
EVENT_HOOKS = (
    "gasnas_search_started",
    "gasnas_step_ended",
    "gasnas_epoch_ended",
    "gasnas_architecture_derived",
    "gasnas_search_finished",
)
