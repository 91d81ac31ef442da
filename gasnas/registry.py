"""Typed registries: one per component kind, filled by the plugins' registration hooks.

A registry maps a unique name to a :class:`Component`: what builds it (a callable, or a lazy ``"module:attr"``
path so that listing plugins never imports torch), the dataclass of its options, a description and the plugin
that registered it. Names are unique per kind; an unknown name lists the known ones and suggests the closest.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from gasnas.errors import DuplicateComponentError, GasnasError, PluginError, UnknownComponentError, closest

__all__ = [
    "Component",
    "Registry",
    "SearchSpaceRegistry",
    "StrategyRegistry",
    "LatencyEstimatorRegistry",
    "EvaluatorRegistry",
    "CommunicatorRegistry",
    "DatasetRegistry",
    "ModelRegistry",
    "CommandRegistry",
    "ExecutorRegistry",
    "REGISTRY_TYPES",
    "SUPERNET",
    "SAMPLING",
    "NNI",
]

T = TypeVar("T")

#: Space capability: builds a weight-sharing supernet with relaxed choices (differentiable and one-shot strategies).
SUPERNET = "supernet"
#: Space capability: samples architectures and builds each as a stand-alone network (sampling strategies).
SAMPLING = "sampling"
#: Space capability: gives an NNI 3.0 ``ModelSpace`` of itself, :meth:`~gasnas.api.space.SearchSpace.nni_model_space`
#: (NNI's one-shot strategies through the ``nni`` strategy).
NNI = "nni"


def load_object(path: str) -> Any:
    """Import ``"package.module:attribute"``."""
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Component(Generic[T]):
    """One registered component: a name within its kind, what builds it, and its typed options."""

    kind: str
    name: str
    factory: Callable[..., T] | str
    options: type | None = None
    description: str = ""
    plugin: str = ""
    traits: Mapping[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """The module that defines the component (for messages about clashes)."""
        if isinstance(self.factory, str):
            return self.factory.partition(":")[0]
        return getattr(self.factory, "__module__", "?")

    def load(self) -> Callable[..., T]:
        """The factory, importing it now if it was registered as a ``"module:attr"`` path."""
        if not isinstance(self.factory, str):
            return self.factory
        try:
            return load_object(self.factory)
        except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's, name it
            raise PluginError(
                f"plugin '{self.plugin}': cannot load {REGISTRY_TYPES[self.kind].noun} "
                f"'{self.name}' from {self.factory}: {type(exc).__name__}: {exc}"
            ) from exc

    def build(self, *args: Any, **kwargs: Any) -> T:
        """Load the factory and call it as its kind's convention says (the table in :mod:`gasnas.api`).

        ``build(options)`` for search spaces, strategies, evaluators and datasets; ``build(options, env)`` for
        latency estimators; ``build(options, choices)`` for communicators; ``build(num_classes, options)`` for
        models. Arguments may be given by those names. A factory that fails with anything but a
        :class:`~gasnas.errors.GasnasError` (those are already clear and pass unchanged) is reported as a
        :class:`~gasnas.errors.PluginError` naming the plugin and the component, chained to the original.
        """
        registry = REGISTRY_TYPES[self.kind]
        noun, names = registry.noun, registry.factory_args
        if names is None:
            raise TypeError(f"{self.kind} are not built; use Component.load()")
        convention = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])
        try:
            args = convention.bind(*args, **kwargs).args
        except TypeError as exc:
            raise TypeError(f"a {noun} is built as build({', '.join(names)}): {exc}") from None
        factory = self.load()
        try:
            return factory(*args)
        except GasnasError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the factory raises, name the plugin that raised it
            raise PluginError(f"plugin '{self.plugin}' ({noun} '{self.name}') failed while building: "
                              f"{type(exc).__name__}: {exc}") from exc

    def default_options(self) -> Any:
        return self.options() if self.options is not None else None

    def example_options(self) -> Any:
        """Options from the registered ``example`` params (the defaults when there is none)."""
        if self.options is None:
            return None
        from gasnas.options import parse_options

        return parse_options(self.options, self.traits.get("example") or {}, (self.name, "example"))


def _example(example: Mapping[str, Any] | None) -> dict[str, Any]:
    return {} if example is None else {"example": dict(example)}


class Registry(Generic[T]):
    """Name -> component for one kind. Plugins call :meth:`add` from their registration hook."""

    kind: ClassVar[str] = "components"
    #: one component of this kind, for messages
    noun: ClassVar[str] = "component"
    #: the hook that fills this registry
    hook: ClassVar[str] = ""
    #: the arguments :meth:`Component.build` passes to a factory of this kind, in order (``None``: not built)
    factory_args: ClassVar[tuple[str, ...] | None] = ("options",)

    def __init__(self) -> None:
        self._items: dict[str, Component[T]] = {}
        self._plugin = ""

    def _add(self, name: str, factory: Callable[..., T] | str, options: type | None, description: str,
             traits: Mapping[str, Any]) -> Component[T]:
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin '{self._plugin}': a {self.noun} name must be a non-empty string, got {name!r}")
        if options is not None and not hasattr(options, "__dataclass_fields__"):
            raise PluginError(f"plugin '{self._plugin}': options of {self.noun} '{name}' must be a dataclass")
        component = Component(self.kind, name, factory, options, description, self._plugin, dict(traits))
        if name in self._items:
            other = self._items[name]
            raise DuplicateComponentError(
                f"{self.kind} '{name}' is registered twice: by plugin '{other.plugin}' ({other.module}) "
                f"and by plugin '{component.plugin}' ({component.module})"
            )
        self._items[name] = component
        return component

    def add(self, name: str, factory: Callable[..., T] | str, *, options: type | None = None,
            description: str = "", example: Mapping[str, Any] | None = None) -> Component[T]:
        """Register ``factory`` under ``name``; ``options`` is the dataclass of its typed options.

        ``example``: params that give a working instance when the defaults do not (required options); the
        conformance tests build the component with them.
        """
        return self._add(name, factory, options, description, _example(example))

    def get(self, name: str) -> Component[T]:
        """The component called ``name``; an unknown name lists what exists and suggests the closest."""
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none registered)"
            raise UnknownComponentError(
                f"unknown {self.noun} '{name}'"
                f"{closest(str(name), self._items)}; available: {known}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Component[T]]:
        return iter(self._items[n] for n in sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)


class SearchSpaceRegistry(Registry["SearchSpace"]):
    kind = "search spaces"
    noun = "search space"
    hook = "gasnas_register_search_spaces"

    def add(self, name: str, factory: Callable[..., Any] | str, *, options: type | None = None,
            description: str = "", capabilities: Iterable[str] = (SUPERNET, SAMPLING),
            example: Mapping[str, Any] | None = None) -> Component:
        """Register a search space. ``capabilities``: any of :data:`SUPERNET`, :data:`SAMPLING` and :data:`NNI`."""
        return self._add(name, factory, options, description,
                         {"capabilities": frozenset(capabilities), **_example(example)})


class StrategyRegistry(Registry["SearchStrategy"]):
    kind = "strategies"
    noun = "strategy"
    hook = "gasnas_register_strategies"

    def add(self, name: str, factory: Callable[..., Any] | str, *, options: type | None = None,
            description: str = "", requires: Iterable[str] = (),
            example: Mapping[str, Any] | None = None) -> Component:
        """Register a search strategy. ``requires``: the space capabilities it needs."""
        return self._add(name, factory, options, description, {"requires": frozenset(requires), **_example(example)})


class LatencyEstimatorRegistry(Registry["LatencyEstimator"]):
    kind = "latency estimators"
    noun = "latency estimator"
    hook = "gasnas_register_latency_estimators"
    factory_args = ("options", "env")

    def add(self, name: str, factory: Callable[..., Any] | str, *, options: type | None = None,
            description: str = "", unit: str = "ms", example: Mapping[str, Any] | None = None) -> Component:
        """Register a latency estimator. ``unit``: what its estimates measure (its ``unit`` attribute): "ms" for
        timing estimators, e.g. "GMACs" for a proxy; configs give absolute targets in this unit."""
        return self._add(name, factory, options, description, {"unit": str(unit), **_example(example)})


class EvaluatorRegistry(Registry["Evaluator"]):
    kind = "evaluators"
    noun = "evaluator"
    hook = "gasnas_register_evaluators"


class CommunicatorRegistry(Registry["Communicator"]):
    kind = "communicators"
    noun = "communicator"
    hook = "gasnas_register_communicators"
    factory_args = ("options", "choices")


class DatasetRegistry(Registry["SegmentationDataset"]):
    kind = "datasets"
    noun = "dataset"
    hook = "gasnas_register_datasets"


class ModelRegistry(Registry["Module"]):
    kind = "models"
    noun = "model"
    hook = "gasnas_register_models"
    factory_args = ("num_classes", "options")


class ExecutorRegistry(Registry["Executor"]):
    """Executors (:mod:`gasnas.executor`): how independent tasks such as candidate scoring fan out."""

    kind = "executors"
    noun = "executor"
    hook = "gasnas_register_executors"


class CommandRegistry(Registry["click.Command"]):
    """CLI commands: ``registry.add(command)`` with a :class:`click.Command` (its name is the command's)."""

    kind = "commands"
    noun = "command"
    hook = "gasnas_register_commands"
    factory_args = None

    def add(self, command: Any, *, description: str = "") -> Component:  # type: ignore[override]
        name = getattr(command, "name", None)
        if not name or not callable(getattr(command, "main", None)):
            raise PluginError(f"plugin '{self._plugin}': register_commands expects click commands, got {command!r}")
        return self._add(name, command, None, description or (command.get_short_help_str(80) or ""), {})


#: kind -> registry class, in the order ``gasnas plugins`` shows them
REGISTRY_TYPES: dict[str, type[Registry]] = {
    cls.kind: cls
    for cls in (SearchSpaceRegistry, CommunicatorRegistry, StrategyRegistry, LatencyEstimatorRegistry,
                EvaluatorRegistry, DatasetRegistry, ModelRegistry, ExecutorRegistry, CommandRegistry)
}
