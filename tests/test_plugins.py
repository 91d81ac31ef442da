from __future__ import annotations

import importlib.metadata
import sys
import types

import pytest

from gasnas import hookimpl
from gasnas.errors import PluginError
from gasnas.plugins import DEFAULT_PLUGINS, PluginManager


def test_misspelled_hook_fails_loudly(register):
    class Typo:
        @hookimpl
        def gasnas_register_stratgies(self, registry):
            pass

    with pytest.raises(PluginError) as err:
        register(Typo(), name="typo")
    assert "implements unknown hook 'gasnas_register_stratgies'" in str(err.value)
    assert "did you mean 'gasnas_register_strategies'?" in str(err.value)


def test_wrong_hook_arguments_name_the_plugin(pm):
    class WrongArgs:
        @hookimpl
        def gasnas_register_strategies(self, reg):
            pass

    with pytest.raises(PluginError, match='plugin "wrong"'):
        pm.add(WrongArgs(), name="wrong")


def test_registration_error_names_the_plugin(pm, register):
    class Raises:
        @hookimpl
        def gasnas_register_models(self, registry):
            raise RuntimeError("boom")

    register(Raises(), name="raiser")
    with pytest.raises(PluginError, match='plugin "raiser" failed in gasnas_register_models: RuntimeError: boom'):
        pm.registries  # noqa: B018


def _fake_entry_point(monkeypatch, name: str, module: types.ModuleType | None, value: str) -> None:
    if module is not None:
        monkeypatch.setitem(sys.modules, module.__name__, module)
    ep = importlib.metadata.EntryPoint(name=name, value=value, group="gasnas")
    real = importlib.metadata.entry_points

    def entry_points(**kw):
        found = list(real(**kw))
        return found + [ep] if kw.get("group") == "gasnas" else found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_entry_point_plugin_is_loaded(monkeypatch):
    mod = types.ModuleType("fake_gasnas_plugin")

    @hookimpl
    def gasnas_register_evaluators(registry):
        registry.add("fake-eval", "fake_gasnas_plugin:E")

    mod.gasnas_register_evaluators = gasnas_register_evaluators
    _fake_entry_point(monkeypatch, "fake", mod, "fake_gasnas_plugin")
    pm = PluginManager()
    assert pm.plugins["fake"].source == "entry point"
    assert pm.registry("evaluators").get("fake-eval").plugin == "fake"
    assert pm.plugins["fake"].components == {"evaluators": ["fake-eval"]}


def test_entry_point_import_error_names_the_plugin(monkeypatch):
    _fake_entry_point(monkeypatch, "ghost", None, "ghost_module_that_does_not_exist")
    with pytest.raises(PluginError, match='Error importing plugin "ghost" \\(ghost_module_that_does_not_exist\\)'):
        PluginManager()


def test_disable_plugins_by_env(monkeypatch):
    name = DEFAULT_PLUGINS[0].removeprefix("gasnas_plugins.")
    monkeypatch.setenv("GASNAS_DISABLE_PLUGINS", f"{name}, something-else")
    pm = PluginManager()
    assert name not in pm.plugins
    assert len(pm.plugins) >= len(DEFAULT_PLUGINS) - 1


def test_default_plugin_import_error_names_it():
    with pytest.raises(PluginError, match='Error importing plugin "nope" \\(gasnas_plugins.nope\\)'):
        PluginManager(defaults=["gasnas_plugins.nope"], entry_points=False)


def test_every_default_plugin_module_is_listed():
    """A module under plugins/ with hook implementations must be in DEFAULT_PLUGINS (or it silently never loads)."""
    import pathlib

    import gasnas_plugins

    root = pathlib.Path(gasnas_plugins.__file__).parent
    with_hooks = set()
    for path in root.rglob("*.py"):
        if "@hookimpl" in path.read_text():
            rel = path.relative_to(root).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            with_hooks.add(".".join(["gasnas_plugins", *parts]))
    assert with_hooks == set(DEFAULT_PLUGINS)


def test_registration_modules_do_not_import_torch():
    import subprocess

    code = ("import sys; from gasnas.plugins import PluginManager; PluginManager().registries; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'nni', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


REGISTRATION = {
    "gasnas_register_search_spaces": "search spaces",
    "gasnas_register_communicators": "communicators",
    "gasnas_register_strategies": "strategies",
    "gasnas_register_latency_estimators": "latency estimators",
    "gasnas_register_evaluators": "evaluators",
    "gasnas_register_datasets": "datasets",
    "gasnas_register_models": "models",
}


@pytest.mark.parametrize("hook", sorted(REGISTRATION))
def test_each_registration_hook_fills_its_registry(hook):
    kind = REGISTRATION[hook]
    plugin = types.SimpleNamespace()

    def impl(registry):
        registry.add(f"x-{kind.replace(' ', '-')}", "somewhere:Thing", description="d")

    setattr(plugin, hook, hookimpl(impl))
    pm = PluginManager(load=False)
    pm.add(plugin, name="p")
    comp = pm.registry(kind).get(f"x-{kind.replace(' ', '-')}")
    assert comp.plugin == "p" and comp.kind == kind
    assert pm.plugins["p"].components == {kind: [comp.name]}


def test_gasnas_register_commands_adds_click_commands():
    import click

    @click.command("hi")
    def hi():
        click.echo("hi")

    class Commands:
        @hookimpl
        def gasnas_register_commands(self, registry):
            registry.add(hi)

    pm = PluginManager(load=False)
    pm.add(Commands(), name="c")
    assert pm.registry("commands").get("hi").factory is hi

    class NotACommand:
        @hookimpl
        def gasnas_register_commands(self, registry):
            registry.add(lambda: None)

    pm.add(NotACommand(), name="bad")
    with pytest.raises(PluginError, match="expects click commands"):
        pm.registries  # noqa: B018
