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


def _plugin_with(hook: str, name: str, factory):
    class Plugin:
        pass

    def register(registry):
        registry.add(name, factory)

    setattr(Plugin, hook, staticmethod(hookimpl(register)))
    return Plugin()


@pytest.mark.parametrize("kind, hook, args, expected", [
    ("strategies", "gasnas_register_strategies", ("opts",), ("opts",)),
    ("latency estimators", "gasnas_register_latency_estimators", ("opts", "env"), ("opts", "env")),
    ("communicators", "gasnas_register_communicators", ("opts", "choices"), ("opts", "choices")),
    ("models", "gasnas_register_models", (19, "opts"), (19, "opts")),
])
def test_build_calls_the_factory_by_the_kinds_convention(pm, register, kind, hook, args, expected):
    register(_plugin_with(hook, "echo", lambda *a: a), name="echo-plugin")
    comp = pm.registry(kind).get("echo")
    assert comp.build(*args) == expected
    names = type(pm.registry(kind)).factory_args
    assert comp.build(**dict(zip(names, args))) == expected  # by name, in the convention's order
    with pytest.raises(TypeError, match=rf"is built as build\({', '.join(names)}\)"):
        comp.build(*args, "one too many")


def test_build_names_the_plugin_when_the_factory_fails(pm, register):
    def factory(options):
        raise ValueError("channels must be even")

    register(_plugin_with("gasnas_register_evaluators", "odd", factory), name="odd-plugin")
    with pytest.raises(PluginError) as err:
        pm.registry("evaluators").get("odd").build(None)
    assert str(err.value) == ("plugin 'odd-plugin' (evaluator 'odd') failed while building: "
                              "ValueError: channels must be even")
    assert isinstance(err.value.__cause__, ValueError)


def test_build_lets_a_clear_gasnas_error_through(pm, register):
    from gasnas.errors import DataError

    def factory(options):
        raise DataError("dataset.params.root: /nowhere not found")

    register(_plugin_with("gasnas_register_datasets", "missing", factory), name="data-plugin")
    with pytest.raises(DataError, match="^dataset.params.root: /nowhere not found$"):
        pm.registry("datasets").get("missing").build(None)


def test_build_of_an_unknown_name_is_the_unknown_component_error(pm):
    with pytest.raises(UnknownComponentError, match="unknown strategy 'no-such-strategy'"):
        pm.registry("strategies").get("no-such-strategy").build(None)
