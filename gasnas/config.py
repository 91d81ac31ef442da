"""Search configs: one YAML file -> a frozen, validated :class:`SearchConfig` before anything heavy runs.

Every component section is ``{name: ..., params: {...}}``; ``params`` are checked against the options dataclass
the component registered. Mistakes are reported with the file, the line, the key path, what is allowed and the
closest valid key. ``--set a.b=c`` overrides apply before validation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gasnas.errors import ConfigError, IncompatibleComponentsError, UnknownComponentError, closest
from gasnas.options import (
    SCIENTIFIC, KeyPath, Location, OptionValueError, check_ranges, option, options_schema, options_to_dict,
    parse_options,
)

if TYPE_CHECKING:
    from gasnas.plugins import PluginManager
    from gasnas.registry import Component

__all__ = ["BudgetConfig", "ComponentConfig", "LoaderBudget", "RunOptions", "RUN_KEYS", "check_device",
           "parse_run_options", "check_rules", "LatencyConfig", "SearchConfig", "load_config", "parse_config",
           "parse_component", "apply_overrides", "read_yaml", "config_schema", "SECTIONS", "DEFAULT_CONFIG"]

#: The quickstart config ``gasnas search`` runs without arguments: (package, resource path).
DEFAULT_CONFIG = ("gasnas_plugins", "configs/quickstart.yaml")


DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
#: seeds are 64-bit: numpy, torch and the derived streams take any of them
SEED_RANGE = (0, 2**63 - 1)
#: more CPU threads than any machine has is a typo
MAX_THREADS = 4096
#: a bound for counts (epochs, steps, images per step) that no run reaches: a larger one is a typo
MAX_COUNT = 10**7


def check_device(name: Any) -> str:
    """The device names every command accepts (whether the device is there is checked when a run starts)."""
    if not isinstance(name, str) or not DEVICE.fullmatch(name):
        raise OptionValueError("device", f"{name!r} is not a device; use auto, cpu, cuda or cuda:N")
    return name


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """The top level of every run config, search and train alike: the seed, what computes and where results go."""

    seed: int = option(0, "random seed: the same seed gives the same result on CPU", ge=SEED_RANGE[0],
                       le=SEED_RANGE[1])
    device: str = option("auto", "auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    threads: int | None = option(None, "CPU threads torch computes with (null: torch's default); 1 is often fastest "
                                       "when several jobs share the CPU, and makes timings comparable",
                                 ge=1, le=MAX_THREADS)
    output: str = option("runs", "directory that receives one run directory per run")
    name: str | None = option(None, "run directory name (default: time stamp and what runs)")

    def __post_init__(self) -> None:
        check_ranges(self)
        check_device(self.device)
        if not self.output:
            raise OptionValueError("output", "an empty path; name the directory that receives the runs")

    def run_dict(self) -> dict[str, Any]:
        """The top-level options, as written into the run directory."""
        return {k: getattr(self, k) for k in RUN_KEYS}

    def digest_of(self, resolved: Mapping[str, Any]) -> str:
        """A hash of a resolved config (``to_dict()``): what changes the result -- not where it is written or
        what computes it, and not unset (null) options, so that an option added later with a null default does
        not orphan the checkpoints of earlier runs."""
        def pruned(value: Any) -> Any:
            if isinstance(value, Mapping):
                return {k: pruned(v) for k, v in value.items() if v is not None}
            if isinstance(value, (list, tuple)):
                return [pruned(v) for v in value]
            return value

        kept = {k: v for k, v in resolved.items() if k not in NOT_DIGESTED}
        blob = json.dumps(pruned(kept), sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]

    def digests_of(self, resolved: Mapping[str, Any]) -> set[str]:
        """Every digest a checkpoint of this config may carry: today's, and that of gasnas 0.x before the shared
        top level (no ``threads`` key, the latency target named ``target_ms``, nulls kept), so that runs started
        before the change still resume."""
        legacy = {k: v for k, v in resolved.items() if k not in ("output", "name", "device", "threads")}
        latency = legacy.get("latency")
        if isinstance(latency, Mapping) and "target" in latency:
            latency = {**latency, "target_ms": latency["target"]}
            del latency["target"]
            legacy["latency"] = latency
        blob = json.dumps(legacy, sort_keys=True, default=str)
        return {self.digest_of(resolved), hashlib.sha1(blob.encode()).hexdigest()[:16]}


#: the top-level keys of :class:`RunOptions`
RUN_KEYS = tuple(f.name for f in dataclasses.fields(RunOptions))
#: top-level keys that do not change a run's result: a checkpoint resumes across them
NOT_DIGESTED = ("output", "name", "device", "threads")


def parse_run_options(data: Mapping[str, Any], where: Location) -> dict[str, Any]:
    """The :class:`RunOptions` keys of a config's top level, checked (types, ranges) with their key paths."""
    options = parse_options(RunOptions, {k: data[k] for k in RUN_KEYS if k in data}, (), where)
    return options.run_dict()


@dataclass(frozen=True)
class LoaderBudget:
    """What searches and trainings share about how much data they go through, and how it is loaded."""

    epochs: int = option(10, "passes over the data", ge=1, le=MAX_COUNT)
    batch_size: int = option(8, "images per step", ge=1, le=MAX_COUNT)
    workers: int = option(0, "data loader worker processes (0: load in the main process)", ge=0, le=MAX_THREADS)
    pin_memory: bool = option(False, "pin loader memory (faster host-to-GPU copies)")
    steps_per_epoch: int | None = option(None, "cap on steps per epoch (null: one pass over the data)", ge=1,
                                         le=MAX_COUNT)

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass(frozen=True)
class BudgetConfig(LoaderBudget):
    """How much work a search may do."""

    epochs: int = option(10, "search epochs (a strategy's warm-up epochs count among them)", ge=1, le=MAX_COUNT)


@dataclass(frozen=True)
class ComponentConfig:
    """A component section: the registered ``name`` and its parsed ``params`` (an options dataclass)."""

    kind: str
    name: str
    params: Any = None

    def to_dict(self) -> dict[str, Any]:
        params = options_to_dict(self.params) if dataclasses.is_dataclass(self.params) else dict(self.params or {})
        return {"name": self.name, "params": params}


@dataclass(frozen=True)
class LatencyConfig(ComponentConfig):
    """The latency section: the estimator, the latency target (absolute, in the estimator's unit, or relative to
    the space), and what measures the final network."""

    #: the target in the estimator's :attr:`unit` (``target_ms`` in a config is the same key for ms estimators)
    target: float | None = None
    #: the target as a fraction of the median estimated latency of random architectures of the space
    target_relative: float | None = None
    measure: ComponentConfig | None = None
    #: what the estimator measures in (its registered ``unit``): "ms", or e.g. "GMACs" for a proxy
    unit: str = "ms"

    @property
    def target_ms(self) -> float | None:
        """The absolute target when the estimator measures milliseconds (the older name of :attr:`target`)."""
        return self.target if self.unit == "ms" else None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["target"] = self.target
        out["target_relative"] = self.target_relative
        out["measure"] = self.measure.to_dict() if self.measure else None
        return out


#: keys of the latency section beside name and params
LATENCY_KEYS = ("target", "target_ms", "target_relative", "measure")


#: section -> (registry kind, required?)
SECTIONS: dict[str, tuple[str, bool]] = {
    "dataset": ("datasets", True),
    "space": ("search spaces", True),
    "communicator": ("communicators", False),
    "strategy": ("strategies", True),
    "latency": ("latency estimators", False),
    "evaluator": ("evaluators", True),
}
TOP_LEVEL = [*RUN_KEYS, *SECTIONS, "budget"]


@dataclass(frozen=True, kw_only=True)
class SearchConfig(RunOptions):
    """A validated search config: the shared top level (:class:`RunOptions`), the component sections and the
    budget."""

    dataset: ComponentConfig
    space: ComponentConfig
    strategy: ComponentConfig
    evaluator: ComponentConfig
    communicator: ComponentConfig | None = None
    latency: LatencyConfig | None = None
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    source: str = "<config>"

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved config (every default filled in), as written into the run directory."""
        out: dict[str, Any] = self.run_dict()
        for section in SECTIONS:
            value = getattr(self, section)
            out[section] = value.to_dict() if value is not None else None
        out["budget"] = options_to_dict(self.budget)
        return out

    @property
    def digest(self) -> str:
        """A hash of the resolved config: a checkpoint from another config is refused on resume."""
        return self.digest_of(self.to_dict())

    def accepts(self, digest: Any) -> bool:
        """Whether a checkpoint carrying ``digest`` was written for this config (by this version or an older)."""
        return digest in self.digests_of(self.to_dict())


# -- reading ---------------------------------------------------------------------------------------------------

def _line_map(node: yaml.Node | None, path: KeyPath = (), out: dict[KeyPath, int] | None = None) -> dict:
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*path, str(key_node.value))
            out[key] = key_node.start_mark.line + 1
            _line_map(value_node, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, str(i))] = item.start_mark.line + 1
            _line_map(item, (*path, str(i)), out)
    return out


#: a config (or architecture) file larger than this is refused before it is parsed: real ones are a few KiB
MAX_YAML_BYTES = 1 << 20
#: YAML nodes a document may expand to (aliases counted as often as they are used): a billion-laughs file is
#: refused instead of filling the memory
MAX_YAML_NODES = 100_000


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes ``root`` stands for once every alias is expanded (linear in the node graph)."""
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack, seen = [root], set()
    while stack:  # children before parents, without recursion
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
    for node in reversed(order):
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        sizes[id(node)] = min(1 + sum(sizes.get(id(c), 1) for c in children), MAX_YAML_NODES + 1)
    return sizes[id(root)]


def load_yaml_text(text: str, where: str) -> tuple[Any, yaml.Node | None]:
    """Parse YAML ``text`` safely: ``(data, node graph)``; a document whose aliases expand beyond
    :data:`MAX_YAML_NODES` nodes is refused before it is built (``where`` names it in errors)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node) > MAX_YAML_NODES:
            raise ConfigError(f"{where}: the YAML expands to more than {MAX_YAML_NODES:,} values (aliases "
                              "repeating aliases?); a config is refused rather than expanded")
        return yaml.safe_load(text), node
    except RecursionError:
        raise ConfigError(f"{where}: the YAML is nested too deeply to be a config") from None


def read_yaml(path: str | Path) -> tuple[Any, Location]:
    """Parse a YAML file; return the data and a :class:`Location` that knows each key's line. Files beyond
    :data:`MAX_YAML_BYTES` and documents beyond :data:`MAX_YAML_NODES` are refused at once."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if not path.is_file():
        raise ConfigError(f"{path}: not a file")
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: {size:,} bytes is too large for a config (at most {MAX_YAML_BYTES:,}); is it "
                          "the right file?")
    try:
        text = path.read_text(encoding="utf-8")
        data, node = load_yaml_text(text, str(path))
        try:
            lines = _line_map(node)
        except RecursionError:
            raise ConfigError(f"{path}: the YAML is nested too deeply to be a config") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file ({exc.reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    return data, Location(str(path), lines)


def apply_overrides(data: Any, overrides: Sequence[str], where: Location) -> tuple[dict, Location]:
    """Apply ``--set a.b=c`` overrides (values parsed as YAML) to a copy of ``data``."""
    data = json.loads(json.dumps(data if data is not None else {}, default=str))
    lines = dict(where.lines)
    if not isinstance(data, dict):
        raise where.error((), f"expected a mapping at the top level, got {type(data).__name__}")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set strategy.params.beta=0.5")
        try:
            value = load_yaml_text(raw, f"--set {key.strip()}")[0] if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: value is not valid YAML: {exc}") from None
        parts = key.strip().split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {'.'.join(parts[:i + 1])} is not a mapping")
            node = child
        node[parts[-1]] = value
        lines.pop(tuple(parts), None)
    return data, Location(where.file, lines)


def _noun(kind: str) -> str:
    from gasnas.registry import REGISTRY_TYPES

    return REGISTRY_TYPES[kind].noun


def _component(section: str, data: Any, where: Location, pm: PluginManager, *,
               extra_keys: Sequence[str] = ()) -> tuple[ComponentConfig, Component]:
    kind, _ = SECTIONS.get(section, ("latency estimators", False))
    return parse_component(tuple(section.split(".")), kind, data, where, pm, extra_keys=extra_keys)


def parse_component(path: KeyPath, kind: str, data: Any, where: Location, pm: PluginManager, *,
                    extra_keys: Sequence[str] = ()) -> tuple[ComponentConfig, Component]:
    """A ``{name, params}`` section at ``path`` naming a registered component of ``kind``, its params checked
    against the component's options (``extra_keys``: other keys the section may hold)."""
    if isinstance(data, str):  # shorthand: `strategy: differentiable`
        data = {"name": data}
    if not isinstance(data, Mapping):
        raise where.error(path, f"expected a mapping {{name: ..., params: {{...}}}}, got {data!r}")
    allowed = ["name", "params", *extra_keys]
    for key in data:
        if key not in allowed:
            raise where.error(path, f"unknown key '{key}'{closest(str(key), allowed)}; allowed: {', '.join(allowed)}",
                              at=(*path, str(key)))
    name = data.get("name")
    if not isinstance(name, str):
        raise where.error((*path, "name"), f"expected the name of a registered {_noun(kind)}, got {name!r}")
    try:
        component = pm.registry(kind).get(name)
    except UnknownComponentError as exc:
        raise where.error((*path, "name"), str(exc)) from None
    raw = data.get("params")
    if component.options is not None:
        params = parse_options(component.options, raw, (*path, "params"), where)
    else:
        if raw not in (None, {}):
            raise where.error((*path, "params"), f"{_noun(kind)} '{name}' takes no params")
        params = None
    return ComponentConfig(kind, name, params), component


def parse_config(data: Any, where: Location, pm: PluginManager | None = None) -> SearchConfig:
    """Validate a config mapping (already read and overridden) against the registered components."""
    from gasnas.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    if not isinstance(data, Mapping):
        raise where.error((), f"expected a mapping at the top level, got {type(data).__name__}")
    for key in data:
        if key not in TOP_LEVEL:
            raise where.error((str(key),), f"unknown key '{key}'{closest(str(key), TOP_LEVEL)}; "
                              f"allowed: {', '.join(TOP_LEVEL)}")
    values: dict[str, Any] = {"source": where.file, **parse_run_options(data, where)}
    components: dict[str, Component] = {}
    for section, (kind, required) in SECTIONS.items():
        if data.get(section) is None:
            if required:
                raise where.error((section,), f"missing section: name a registered {_noun(kind)} "
                                  f"({', '.join(pm.registry(kind).names()) or 'none registered'})")
            continue
        if section == "latency":
            section_data = data[section]
            cfg, comp = _component(section, section_data, where, pm, extra_keys=LATENCY_KEYS)
            cfg = _latency_section(cfg, comp, section_data if isinstance(section_data, Mapping) else {}, where, pm)
        else:
            cfg, comp = _component(section, data[section], where, pm)
        values[section] = cfg
        components[section] = comp
    values["budget"] = parse_options(BudgetConfig, data.get("budget"), ("budget",), where)
    config = SearchConfig(**values)
    check_compatible(components["space"], components["strategy"], where, config.strategy.params)
    check_rules(config, where)
    return config


def check_rules(config: SearchConfig, where: Location) -> None:
    """Rules across sections, checked at load time: the options of any section may define
    ``check_config(self, config) -> Iterable[(key path, message)]`` (e.g. a latency loss that needs a target, a
    warm-up longer than the budget); the first problem is raised with its key path and line."""
    for section in SECTIONS:
        check = getattr(getattr(getattr(config, section), "params", None), "check_config", None)
        if not callable(check):
            continue
        for path, message in check(config) or ():
            raise where.error(tuple(path.split(".")) if isinstance(path, str) else tuple(path), message)


def _latency_section(cfg: ComponentConfig, comp: Component, data: Mapping[str, Any], where: Location,
                     pm: PluginManager) -> LatencyConfig:
    """The latency section's target (one of ``target``, ``target_ms``, ``target_relative``) and measure."""
    unit = comp.traits.get("unit", "ms")
    given = {k: float(v) if isinstance(v, str) and SCIENTIFIC.fullmatch(v.strip()) else v
             for k, v in data.items() if k in ("target", "target_ms", "target_relative") and v is not None}
    for key, value in given.items():
        what = "a positive fraction of the space's median latency" if key == "target_relative" else \
            f"a positive number of {unit if key == 'target' else 'ms'}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise where.error(("latency", key), f"expected {what}, got {value!r}")
    if len(given) > 1:
        first, second = list(given)[:2]
        raise where.error(("latency", second), f"set one latency target, not both {first} and {second}: target "
                          f"(absolute, in the estimator's unit: {unit}) or target_relative (a fraction of the "
                          "space's median latency)")
    if "target_ms" in given and unit != "ms":
        raise where.error(("latency", "target_ms"), f"latency estimator '{cfg.name}' measures {unit}, not ms; write "
                          f"the budget in its unit as latency.target (e.g. target: {given['target_ms']} means "
                          f"{given['target_ms']} {unit}), or use target_relative")
    target = given.get("target", given.get("target_ms"))
    measure = None
    if data.get("measure") is not None:
        measure, _ = _component("latency.measure", data["measure"], where, pm)
    return LatencyConfig(cfg.kind, cfg.name, cfg.params, None if target is None else float(target),
                         None if "target_relative" not in given else float(given["target_relative"]), measure, unit)


def check_compatible(space: Component, strategy: Component, where: Location | None = None,
                     params: Any = None) -> None:
    """Raise before anything runs when the strategy needs a capability the space lacks: one it requires when it
    registers, or one its options ``params`` ask for. Options whose needs depend on their values (only some of
    a strategy's algorithms need a capability) define ``required_capabilities(self) -> {capability: why}``."""
    have = space.traits.get("capabilities", frozenset())
    offers = ", ".join(sorted(have)) or "nothing"
    need = strategy.traits.get("requires", frozenset())
    missing = sorted(need - have)
    if missing:
        prefix = f"{where.describe(('strategy', 'name'))}: " if where else ""
        raise IncompatibleComponentsError(
            f"{prefix}strategy '{strategy.name}' needs a search space with {', '.join(missing)}, but space "
            f"'{space.name}' offers {offers}; see 'Strategies and spaces' in the docs")
    asked = getattr(params, "required_capabilities", None)
    for capability, why in sorted(dict(asked() if callable(asked) else {}).items()):
        if capability not in have:
            prefix = f"{where.describe(('strategy', 'params'))}: " if where else ""
            raise IncompatibleComponentsError(
                f"{prefix}strategy '{strategy.name}' needs a search space with {capability} here ({why}), but space "
                f"'{space.name}' offers {offers}; see 'Strategies and spaces' in the docs")


def load_config(path: str | Path, overrides: Sequence[str] = (), pm: PluginManager | None = None) -> SearchConfig:
    """Read, override and validate a config file."""
    data, where = read_yaml(path)
    data, where = apply_overrides(data, overrides, where)
    return parse_config(data, where, pm)


def default_config_path() -> Path:
    """The quickstart config shipped with the default plugins."""
    from importlib import resources

    package, resource = DEFAULT_CONFIG
    try:
        path = resources.files(package).joinpath(resource)
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise ConfigError(f"no config given and the quickstart config ({package}/{resource}) is not installed; "
                          "pass a config file: gasnas search CONFIG (gasnas init writes one)")
    return Path(str(path))


# -- schema ----------------------------------------------------------------------------------------------------

def _section_schema(kind: str, pm: PluginManager, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    registry = pm.registry(kind)
    branches = []
    for comp in registry:
        params = options_schema(comp.options) if comp.options is not None else {"type": "object", "maxProperties": 0}
        branches.append({"if": {"properties": {"name": {"const": comp.name}}},
                         "then": {"properties": {"params": params}}})
    props: dict[str, Any] = {
        "name": {"enum": registry.names(), "description": f"a registered {_noun(kind)}",
                 "markdownEnumDescriptions": [c.description for c in registry]},
        "params": {"type": "object"},
        **(extra or {}),
    }
    schema = {"type": "object", "properties": props, "required": ["name"], "additionalProperties": False}
    if branches:
        schema["allOf"] = branches
    return schema


def config_schema(pm: PluginManager | None = None) -> dict[str, Any]:
    """The JSON schema of search configs, with one branch per registered component (for editor completion)."""
    from gasnas.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    props: dict[str, Any] = {}
    props.update(options_schema(RunOptions)["properties"])
    for section, (kind, _) in SECTIONS.items():
        extra = None
        if section == "latency":
            extra = {"target": {"type": ["number", "null"], "exclusiveMinimum": 0,
                                "description": "latency budget in the estimator's unit (ms for timing estimators)"},
                     "target_ms": {"type": ["number", "null"], "exclusiveMinimum": 0,
                                   "description": "the same budget, for estimators that measure ms"},
                     "target_relative": {"type": ["number", "null"], "exclusiveMinimum": 0,
                                         "description": "latency budget as a fraction of the median estimated "
                                                        "latency of random architectures of the space"},
                     "measure": {"anyOf": [_section_schema(kind, pm), {"type": "null"}]}}
        props[section] = _section_schema(kind, pm, extra)
        if not SECTIONS[section][1]:
            props[section] = {"anyOf": [props[section], {"type": "null"}]}
    props["budget"] = options_schema(BudgetConfig)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://gasnas.dev/schema/search-config.json",
        "title": "gasnas search config",
        "type": "object",
        "properties": props,
        "required": [s for s, (_, req) in SECTIONS.items() if req],
        "additionalProperties": False,
    }


# -- starter config --------------------------------------------------------------------------------------------

def _yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...").strip()


def starter_config(pm: PluginManager | None = None) -> str:
    """A commented config: the quickstart's components with every option, its default and its help text."""
    import dataclasses as dc

    from gasnas.options import help_of
    from gasnas.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    base, _ = read_yaml(default_config_path())
    lines = ["# gasnas search config, written by `gasnas init`.",
             "# Run it with `gasnas search gasnas.yaml`; every option below shows its default.",
             "# Reference: https://gasnas.dev/configuration/ ; schema: `gasnas config schema`.", ""]
    for f in dataclasses.fields(RunOptions):
        lines.append(f"{f.name}: {_yaml_value(base.get(f.name, f.default))}  # {help_of(f)}")
    for section, (kind, required) in SECTIONS.items():
        data = base.get(section)
        if data is None:
            continue
        comp = pm.registry(kind).get(data["name"])
        lines += ["", f"{section}:{'' if required else '  # optional'}",
                  f"  name: {comp.name}  # {_noun(kind)}: {', '.join(pm.registry(kind).names())}"]
        if section == "latency":
            lines.append(f"  target: {_yaml_value(data.get('target', data.get('target_ms')))}  # latency budget, "
                         "in the estimator's unit (ms for timing estimators)")
            lines.append(f"  target_relative: {_yaml_value(data.get('target_relative'))}  # or: budget as a "
                         "fraction of the median latency of random architectures")
            if data.get("measure"):
                lines.append(f"  measure: {_yaml_value(data['measure'])}  # measures the final network")
        given = data.get("params") or {}
        if comp.options is not None:
            defaults = comp.options()
            lines.append("  params:")
            for f in dc.fields(comp.options):
                value = given.get(f.name, options_to_dict(getattr(defaults, f.name)))
                lines.append(f"    {f.name}: {_yaml_value(value)}  # {help_of(f)}")
    lines += ["", "budget:"]
    budget = {**options_to_dict(BudgetConfig()), **(base.get("budget") or {})}
    for f in dataclasses.fields(BudgetConfig):
        lines.append(f"  {f.name}: {_yaml_value(budget[f.name])}  # {help_of(f)}")
    return "\n".join(lines) + "\n"
