"""Loading plugins: the default module list, the ``gasnas`` entry-point group, and the registries they fill.

Order of loading: the modules in :data:`DEFAULT_PLUGINS` (shipped in the ``gasnas_plugins`` package), then every
entry point of the group ``gasnas``, then the modules named in ``GASNAS_PLUGINS=pkg.mod,other`` (a plugin module
used without packaging it). ``GASNAS_DISABLE_PLUGINS=a,b`` skips plugins by name (the default plugins'
names are their module paths below ``gasnas_plugins``, e.g. ``spaces.gas``; third-party plugins are named by
their entry point). After loading, ``check_pending()`` makes a misspelled hook an error.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from gasnas import hookspecs
from gasnas.errors import PluginError, closest
from gasnas.registry import REGISTRY_TYPES, Registry

__all__ = ["DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "PluginInfo", "PluginManager", "get_plugin_manager"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gasnas"
DISABLE_ENV = "GASNAS_DISABLE_PLUGINS"
EXTRA_ENV = "GASNAS_PLUGINS"
DEFAULT_PACKAGE = "gasnas_plugins"

#: The default plugins, by module (pytest's ``default_plugins``). Each registers through the public hooks only.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "gasnas_plugins.callbacks.console",
    "gasnas_plugins.callbacks.curves",
    "gasnas_plugins.callbacks.tensorboard",
    "gasnas_plugins.spaces.gas",
    "gasnas_plugins.spaces.fasterseg",
    "gasnas_plugins.spaces.dcnas",
    "gasnas_plugins.spaces.nni",
    "gasnas_plugins.communicators",
    "gasnas_plugins.latency",
    "gasnas_plugins.strategies.differentiable",
    "gasnas_plugins.strategies.evolution",
    "gasnas_plugins.strategies.nni",
    "gasnas_plugins.models",
    "gasnas_plugins.datasets",
    "gasnas_plugins.evaluators",
    "gasnas_plugins.executors",
    "gasnas_plugins.commands",
)


@dataclass
class PluginInfo:
    """A loaded plugin: its name, where it came from, its version and what it registered, by kind."""

    name: str
    module: str
    version: str
    source: str  # "default", "entry point", or "added"
    components: dict[str, list[str]] = field(default_factory=dict)


def _default_name(module: str) -> str:
    return module[len(DEFAULT_PACKAGE) + 1:] if module.startswith(DEFAULT_PACKAGE + ".") else module


class PluginManager:
    """The pluggy manager plus the registries its plugins filled.

    ``PluginManager(load=False)`` gives an empty manager (tests add throw-away plugins with :meth:`add`);
    :meth:`load` loads the defaults and the entry points.
    """

    def __init__(self, *, load: bool = True, defaults: Iterable[str] = DEFAULT_PLUGINS,
                 entry_points: bool = True, disabled: Iterable[str] | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._registries: dict[str, Registry] | None = None
        if disabled is None:
            disabled = [p.strip() for p in os.environ.get(DISABLE_ENV, "").split(",") if p.strip()]
        self.disabled = set(disabled)
        if load:
            self.load(defaults=defaults, entry_points=entry_points)

    # -- loading ---------------------------------------------------------------------------------------------

    def _is_disabled(self, name: str, module: str) -> bool:
        return name in self.disabled or module in self.disabled

    def load(self, *, defaults: Iterable[str] = DEFAULT_PLUGINS, entry_points: bool = True) -> None:
        from gasnas import __version__

        for module in defaults:
            name = _default_name(module)
            if self._is_disabled(name, module):
                log.info("plugin %s disabled by %s", name, DISABLE_ENV)
                continue
            self.add(self._import(name, module), name=name, version=__version__, source="default")
        if entry_points:
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                if self._is_disabled(ep.name, ep.value):
                    log.info("plugin %s disabled by %s", ep.name, DISABLE_ENV)
                    continue
                try:
                    plugin = ep.load()
                except Exception as exc:  # noqa: BLE001 - name the plugin whatever went wrong
                    raise PluginError(f'Error importing plugin "{ep.name}" ({ep.value}): '
                                      f"{type(exc).__name__}: {exc}") from exc
                version = ep.dist.version if ep.dist is not None else "?"
                self.add(plugin, name=ep.name, version=version, source="entry point")
            for module in [m.strip() for m in os.environ.get(EXTRA_ENV, "").split(",") if m.strip()]:
                if module not in self.plugins and not self._is_disabled(module, module):
                    plugin = self._import(module, module)
                    self.add(plugin, name=module, version=str(getattr(plugin, "__version__", "?")),
                             source=EXTRA_ENV)
        self.check_pending()

    @staticmethod
    def _import(name: str, module: str) -> types.ModuleType:
        try:
            return importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001
            raise PluginError(f'Error importing plugin "{name}" ({module}): {type(exc).__name__}: {exc}') from exc

    def add(self, plugin: Any, *, name: str | None = None, version: str = "?", source: str = "added") -> str:
        """Register a plugin object or module; returns its name. Registries are rebuilt on next access."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self.plugins:
            raise PluginError(f'plugin "{name}" is loaded twice ({self.plugins[name].module} and '
                              f"{getattr(plugin, '__name__', plugin)!r}); disable one with {DISABLE_ENV}={name}")
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f'plugin "{name}": {exc}') from exc
        module = getattr(plugin, "__name__", type(plugin).__module__)
        self.plugins[name] = PluginInfo(name, module, version, source)
        self._registries = None
        return name

    def remove(self, name: str) -> None:
        """Unregister the plugin ``name`` (tests use this to clean up throw-away plugins)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin, name=name)
        self.plugins.pop(name, None)
        self._registries = None

    def check_pending(self) -> None:
        """Fail loudly on a hook implementation that matches no hook spec (a misspelled hook name)."""
        known = [n for n in dir(hookspecs) if n.startswith("gasnas_")]
        for hook_name in dir(self.pm.hook):
            if hook_name.startswith("_"):
                continue
            caller = getattr(self.pm.hook, hook_name)
            if isinstance(caller, pluggy.HookCaller) and not caller.has_spec():
                impls = caller.get_hookimpls()
                owners = ", ".join(f'"{i.plugin_name}"' for i in impls)
                raise PluginError(f"plugin {owners} implements unknown hook '{hook_name}'"
                                  f"{closest(hook_name, known)}; the hooks are listed in the plugin hooks reference")

    # -- registries ----------------------------------------------------------------------------------------------

    @property
    def registries(self) -> dict[str, Registry]:
        if self._registries is None:
            self._registries = self._collect()
        return self._registries

    def registry(self, kind: str) -> Registry:
        """The registry of ``kind`` (e.g. ``"strategies"``), filled by every plugin's registration hook."""
        try:
            return self.registries[kind]
        except KeyError:
            raise PluginError(f"unknown component kind '{kind}'{closest(kind, REGISTRY_TYPES)}") from None

    def _collect(self) -> dict[str, Registry]:
        registries: dict[str, Registry] = {}
        for info in self.plugins.values():
            info.components = {}
        for kind, cls in REGISTRY_TYPES.items():
            registry = cls()
            caller = getattr(self.pm.hook, cls.hook)
            # Call each implementation on its own so the registry knows (and errors name) the plugin.
            for impl in caller.get_hookimpls():  # in registration order
                registry._plugin = impl.plugin_name
                before = set(registry.names())
                try:
                    impl.function(registry=registry)
                except PluginError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    raise PluginError(f'plugin "{impl.plugin_name}" failed in {cls.hook}: '
                                      f"{type(exc).__name__}: {exc}") from exc
                added = sorted(set(registry.names()) - before)
                if added and impl.plugin_name in self.plugins:
                    self.plugins[impl.plugin_name].components.setdefault(kind, []).extend(added)
            registry._plugin = ""
            registries[kind] = registry
        return registries

    @property
    def hook(self) -> Any:
        """The pluggy hook relay: ``pm.hook.gasnas_epoch_ended(run=..., epoch=..., metrics=...)``."""
        return self.pm.hook


_MANAGER: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, loaded on first use."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = PluginManager()
    return _MANAGER


def set_plugin_manager(manager: PluginManager | None) -> None:
    """Replace the process-wide manager (tests; ``None`` reloads on next use)."""
    global _MANAGER
    _MANAGER = manager
