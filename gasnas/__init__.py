"""gasnas: neural architecture search for real-time semantic segmentation.

The core defines contracts, registries, configs, the engine and the CLI; every concrete search space,
strategy, latency estimator, evaluator, dataset and model is a plugin. A plugin implements hooks::

    from gasnas import hookimpl

    @hookimpl
    def gasnas_register_search_spaces(registry):
        registry.add("my-space", "my_pkg.space:MySpace", options=MySpaceOptions)
"""

from gasnas.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["hookimpl", "__version__"]
