from __future__ import annotations

import pytest

from gasnas import hookimpl
from gasnas.errors import DuplicateComponentError, PluginError, UnknownComponentError
from gasnas.registry import StrategyRegistry


def test_unknown_name_lists_available_and_suggests_closest():
    reg = StrategyRegistry()
    reg.add("differentiable", "x:y")
    reg.add("evolution", "x:z")
    with pytest.raises(UnknownComponentError) as err:
        reg.get("diferentiable")
    assert "unknown strategy 'diferentiable' (did you mean 'differentiable'?)" in str(err.value)
    assert "available: differentiable, evolution" in str(err.value)


def test_duplicate_name_names_both_modules(pm, register):
    class A:
        @hookimpl
        def gasnas_register_strategies(self, registry):
            registry.add("same", "pkg_a.strategy:S")

    class B:
        @hookimpl
        def gasnas_register_strategies(self, registry):
            registry.add("same", "pkg_b.strategy:S")

    register(A(), name="plugin-a")
    register(B(), name="plugin-b")
    with pytest.raises(DuplicateComponentError) as err:
        pm.registry("strategies")
    msg = str(err.value)
    assert "'plugin-a' (pkg_a.strategy)" in msg and "'plugin-b' (pkg_b.strategy)" in msg


def test_lazy_factory_import_error_names_plugin(pm, register):
    class Broken:
        @hookimpl
        def gasnas_register_evaluators(self, registry):
            registry.add("broken", "no_such_module_xyz:Evaluator")

    register(Broken(), name="broken-plugin")
    comp = pm.registry("evaluators").get("broken")
    with pytest.raises(PluginError, match="plugin 'broken-plugin': cannot load evaluator 'broken'"):
        comp.load()


def test_options_must_be_a_dataclass(pm, register):
    class Bad:
        @hookimpl
        def gasnas_register_evaluators(self, registry):
            registry.add("bad", "x:y", options=dict)

    register(Bad(), name="bad")
    with pytest.raises(PluginError, match="options of evaluator 'bad' must be a dataclass"):
        pm.registry("evaluators")
