"""The public door of gasnas: everything a plugin author uses, importable from ``gasnas.api``.

``from gasnas.api import SearchSpace, option, ConfigError, SUPERNET`` -- the contracts, the search context, the
architecture and choice types, capability constants, errors, option helpers and the runtime helpers (config
reading, run directories, seeding, export, timing, MAC counting, console output). A plugin imports gasnas
through this door (and ``hookimpl`` from ``gasnas``) and through nothing else; a test keeps it so. Names are
resolved when first used, so ``from gasnas.api import option`` in a registration module imports no torch;
the contracts (``SearchSpace``, ``Evaluator``, ...) import torch when they are used.

The contracts every component implements, and the factories' calling conventions (``Component.build`` calls
them so):

====================  ======================================  ==============================================
kind                  interface                               the factory registered for it is called as
====================  ======================================  ==============================================
search space          :class:`~gasnas.api.space.SearchSpace`  ``factory(options)``
supernet (of a space) :class:`~gasnas.api.space.Supernet`     ``space.build_supernet(num_classes)``
communicator          :class:`~gasnas.api.communicator.Communicator`  ``factory(options, choices)``
search strategy       :class:`~gasnas.api.strategy.SearchStrategy`    ``factory(options)``
latency estimator     :class:`~gasnas.api.latency.LatencyEstimator`   ``factory(options, env)``
evaluator             :class:`~gasnas.api.evaluator.Evaluator`        ``factory(options)``
dataset               :class:`~gasnas.api.dataset.SegmentationDataset`  ``factory(options)``
model                 ``torch.nn.Module`` (see :mod:`gasnas.api.model`)  ``factory(num_classes, options)``
====================  ======================================  ==============================================
"""

from __future__ import annotations

import importlib
from typing import Any

#: module -> the names this door exports from it (``door name: attribute`` where the two differ)
_DOOR: dict[str, tuple[str, ...]] = {
    # contracts
    "gasnas.api.space": ("SearchSpace", "Supernet", "RelaxedChoice", "Block", "CostTerm", "Factor", "kbest",
                         "log_scores", "refuse_edge_normalization", "refuse_partial_channels", "supernet_of"),
    "gasnas.api.strategy": ("SearchStrategy",),
    "gasnas.api.context": ("SearchContext",),
    "gasnas.api.communicator": ("Communicator", "cells_of"),
    "gasnas.api.latency": ("LatencyEstimator", "LatencyEnv", "ExpectedLatency", "Calibration", "total_cost",
                           "group_costs"),
    "gasnas.api.evaluator": ("Evaluator", "EvaluationResult", "background_score", "BACKGROUND_MARGIN"),
    "gasnas.api.dataset": ("SegmentationDataset", "ItemCheck", "class_weights"),
    "gasnas.api.model": ("SegmentationOutput", "as_output", "segmentation_loss", "resize_to", "WeightLayout",
                         "single_value_norms", "is_single_value_norm_error"),
    # architectures, choices, results
    "gasnas.architecture": ("Architecture",),
    "gasnas.mutable": ("Mutable", "Categorical", "CategoricalMultiple", "SampleValidationError", "validate_sample",
                       "random_sample", "default_sample"),
    "gasnas.run": ("SearchResult", "RunDirectory", "RunInfo", "load_checkpoint"),
    "gasnas.weights": ("read_weights", "match_weights", "load_weights_into", "WeightMatch"),
    # plugins, registries, capabilities
    "gasnas": ("hookimpl",),
    "gasnas.plugins": ("PluginManager", "get_plugin_manager"),
    "gasnas.registry": ("Component", "SUPERNET", "SAMPLING", "NNI", "load_object"),
    # errors
    "gasnas.errors": ("GasnasError", "ConfigError", "PluginError", "UnknownComponentError",
                      "DuplicateComponentError", "IncompatibleComponentsError", "DataError", "CheckpointError",
                      "LatencyError", "MissingDependencyError", "DivergedError", "DistributedError", "ensure_finite",
                      "closest"),
    # options and configs
    "gasnas.options": ("option", "Range", "range_of", "check_ranges", "OptionValueError", "Location", "parse_options",
                       "options_to_dict", "options_schema", "help_of"),
    "gasnas.config": ("SearchConfig", "ComponentConfig", "LatencyConfig", "BudgetConfig", "LoaderBudget",
                      "RunOptions", "RUN_KEYS", "MAX_COUNT", "MAX_THREADS", "load_config", "read_yaml",
                      "read_config", "apply_overrides", "parse_component", "parse_run_options", "default_config_path",
                      "check_device"),
    # runtime helpers
    "gasnas.engine": ("resolve_device",),
    "gasnas.distributed": ("DistInfo", "setup_distributed: setup", "shutdown_distributed: shutdown",
                           "lost_contact"),
    "gasnas.executor": ("Executor", "SerialExecutor", "open_executor"),
    "gasnas.threads": ("Threads", "choose_threads", "threads_option"),
    "gasnas.datacheck": ("check_data", "DataReport", "SplitReport", "STARTUP_SAMPLES", "describe_sizes",
                         "percent"),
    "gasnas.seeding": ("derive_seed", "rng", "seed_everything", "rng_state", "set_rng_state", "random_state",
                       "restore_random", "loader_generator", "deterministic_loader"),
    "gasnas.io": ("atomic_write", "atomic_write_text", "atomic_write_bytes", "cache_dir"),
    "gasnas.reporting": ("Reporter", "LogReporter", "NullReporter", "ProgressTask"),
    "gasnas.console": ("console", "err_console", "RichReporter", "table", "fmt", "warning_rows"),
    "gasnas.runtime.export": ("export_onnx",),
    "gasnas.runtime.timing": ("Timing", "time_torch", "time_onnxruntime", "time_torch_many", "time_onnxruntime_many",
                              "time_interleaved", "torch_threads", "ort_session", "summarize", "statistic_of",
                              "resolve_clock"),
    "gasnas.runtime.providers": ("choose_providers", "ProviderChoice"),
    "gasnas.runtime.macs": ("count_macs: count", "MacCounter", "Counts"),
}
#: modules reachable as attributes of the door (``from gasnas.api import seeding``)
_MODULES = {"seeding": "gasnas.seeding", "runtime": "gasnas.runtime"}

_WHERE: dict[str, tuple[str, str]] = {}
for _module, _names in _DOOR.items():
    for _entry in _names:
        _name, _, _attr = (part.strip() for part in _entry.partition(":"))
        _WHERE[_name] = (_module, _attr or _name)

__all__ = sorted([*_WHERE, *_MODULES])


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _WHERE:
        module, attr = _WHERE[name]
        value = getattr(importlib.import_module(module), attr)
    else:
        raise AttributeError(f"module 'gasnas.api' has no attribute {name!r}; the public names are listed in "
                             "gasnas.api.__all__")
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def where(name: str) -> str:
    """The module that defines the door's ``name`` (for documentation)."""
    if name in _MODULES:
        return _MODULES[name]
    module, attr = _WHERE[name]
    return f"{module}.{attr}"
