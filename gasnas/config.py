"""Search configs: one YAML file -> a frozen, validated :class:`SearchConfig` before anything heavy runs.

Every component section is ``{name: ..., params: {...}}``; ``params`` are checked against the options dataclass
the component registered. Mistakes are reported with the file, the line, the key path, what is allowed and the
closest valid key. ``--set a.b=c`` overrides apply before validation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gasnas.errors import ConfigError, IncompatibleComponentsError, UnknownComponentError, closest
from gasnas.options import (
    SCIENTIFIC, KeyPath, Location, OptionValueError, check_ranges, option, options_schema, options_to_dict,
    parse_options, unknown_keys_error,
)

if TYPE_CHECKING:
    from gasnas.plugins import PluginManager
    from gasnas.registry import Component

__all__ = ["BudgetConfig", "ComponentConfig", "LoaderBudget", "RunOptions", "RUN_KEYS", "check_device",
           "parse_run_options", "check_rules", "LatencyConfig", "SearchConfig", "load_config", "parse_config",
           "parse_component", "apply_overrides", "read_yaml", "read_config", "config_schema", "SECTIONS",
           "DEFAULT_CONFIG"]

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

    seed: int = option(0, "random seed: the same seed and thread count give the same result on CPU",
                       ge=SEED_RANGE[0], le=SEED_RANGE[1])
    device: str = option("auto", "auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    threads: int | None = option(None, "CPU threads torch computes with (null: OMP_NUM_THREADS when set, else one "
                                       "per idle CPU, at most torch's default); --threads overrides it",
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
        legacy = {k: v for k, v in resolved.items() if k not in NOT_DIGESTED}
        latency = legacy.get("latency")
        if isinstance(latency, Mapping) and "target" in latency:
            latency = {**latency, "target_ms": latency["target"]}
            del latency["target"]
            legacy["latency"] = latency
        blob = json.dumps(legacy, sort_keys=True, default=str)
        return {self.digest_of(resolved), hashlib.sha1(blob.encode()).hexdigest()[:16]}

    def accepts(self, digest: Any, written: Mapping[str, Any] | None = None) -> bool:
        """Whether a checkpoint carrying ``digest`` was written for this config (by this version or an older).

        ``written`` is the config as its run directory's ``config.yaml`` holds it: every option resolved by the
        gasnas that started the run. A checkpoint of that file is accepted when this config only adds to it --
        options introduced since, at their defaults, which keep the behaviour they were added beside -- so that a
        new option does not orphan the runs before it; a value of the file that resolves differently now is not."""
        resolved = self.to_dict()
        if digest in self.digests_of(resolved):
            return True
        return written is not None and digest == self.digest_of(written) and _extends(
            self._digested(resolved), self._digested(written))

    @staticmethod
    def _digested(resolved: Mapping[str, Any]) -> Any:
        """What :meth:`digest_of` hashes, as plain JSON values."""
        return json.loads(json.dumps({k: v for k, v in resolved.items() if k not in NOT_DIGESTED}, default=str))


#: the top-level keys of :class:`RunOptions`
RUN_KEYS = tuple(f.name for f in dataclasses.fields(RunOptions))
#: top-level keys that do not change a run's result: a checkpoint resumes across them (the executor decides where
#: independent tasks run, never what they give)
NOT_DIGESTED = ("output", "name", "device", "threads", "executor")


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
    "executor": ("executors", False),
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
    #: what runs independent tasks such as candidate scoring (None: the serial executor, here)
    executor: ComponentConfig | None = None
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    source: str = "<config>"
    #: the files ``source`` extends (``base:``), merged under it in this order
    bases: tuple[str, ...] = ()

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


def _extends(current: Any, written: Any) -> bool:
    """Whether ``current`` holds every value of ``written`` (mappings may have more keys, holding whatever)."""
    if isinstance(written, Mapping) and isinstance(current, Mapping):
        return all(k in current and _extends(current[k], v) for k, v in written.items())
    return current == written


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


#: files a config and its bases may read in all (each within the limits of :func:`read_yaml`): more is a
#: mistake, not a config
MAX_BASE_FILES = 64


def read_config(path: str | Path) -> tuple[Any, Location]:
    """Read a config file and the files it extends: ``base: other.yaml`` (or a list of files, merged in order),
    relative to the file that names it, itself possibly extending others. The file deep-merges over its bases:
    mappings merge key by key; lists, scalars and null replace; a component section naming another component
    replaces the base's section whole (the base's params belong to the other one). The :class:`Location` knows
    each key's file and line, and the bases merged under ``path`` (:attr:`Location.bases`)."""
    return _read_with_bases(Path(path), (), [0])


def _read_with_bases(path: Path, chain: tuple[Path, ...], count: list[int]) -> tuple[Any, Location]:
    count[0] += 1
    if count[0] > MAX_BASE_FILES:
        raise ConfigError(f"{' -> '.join(map(str, (*chain, path)))}: more than {MAX_BASE_FILES} files in the bases "
                          "of one config; do the bases extend each other in a loop through copies?")
    data, where = read_yaml(path)
    if not isinstance(data, Mapping) or "base" not in data:
        return data, where
    names = data["base"]
    listed = names if isinstance(names, list) else [names]
    if not listed or not all(isinstance(n, str) and n.strip() for n in listed):
        raise where.error(("base",), f"expected the file this config extends (or a list of files), got {names!r}")
    merged: Any = {}
    at = Location(where.file)
    here = (*chain, path)
    for i, name in enumerate(listed):
        key = ("base", str(i)) if isinstance(names, list) else ("base",)
        base = Path(os.path.normpath(path.parent / Path(name).expanduser()))
        shown = " -> ".join(map(str, (*here, base)))
        if any(base.resolve() == p.resolve() for p in here):
            raise where.error(key, f"'{name}' closes a loop of bases: {shown}")
        if not base.is_file():
            raise where.error(key, f"base config '{name}' not found ({base}); chain: {shown}")
        base_data, base_where = _read_with_bases(base, here, count)
        if not isinstance(base_data, Mapping):
            raise base_where.error((), f"a base config must be a mapping, got {type(base_data).__name__} "
                                       f"(extended by {path})")
        merged, at = _merge_located(merged, at, base_data, base_where)
        at = replace(at, bases=(*at.bases, *base_where.bases, str(base)))
    own = {k: v for k, v in data.items() if k != "base"}
    merged, at = _merge_located(merged, at, own, replace(where, lines={
        k: v for k, v in where.lines.items() if k[0] != "base"}))
    return merged, replace(at, file=where.file, files={k: f for k, f in at.files.items() if f != where.file})


def _merge_located(base: Any, base_at: Location, over: Any, over_at: Location) -> tuple[Any, Location]:
    """``over`` deep-merged over ``base``, and the lines and files of the result's keys."""
    replaced: set[KeyPath] = set()
    merged = _merge(base, over, (), replaced)

    def kept(key: KeyPath) -> bool:  # a base key survives unless over replaced it or a mapping above it
        return not any(key[:n] in replaced for n in range(len(key) + 1))

    lines = {k: v for k, v in base_at.lines.items() if kept(k)}
    files = {k: base_at.files.get(k, base_at.file) for k in lines}
    lines.update(over_at.lines)
    files.update({k: over_at.files.get(k, over_at.file) for k in over_at.lines})
    return merged, Location(base_at.file, lines, files, base_at.bases)


def _merge(base: Any, over: Any, path: KeyPath, replaced: set[KeyPath]) -> Any:
    if len(path) == 1 or path == ("latency", "measure"):  # a component section: `strategy: x` is {name: x}
        if isinstance(base, str) and isinstance(over, Mapping) and ("name" in over or "params" in over):
            base = {"name": base}
        elif isinstance(over, str) and isinstance(base, Mapping) and "name" in base:
            over = {"name": over}
        if isinstance(base, Mapping) and isinstance(over, Mapping) and "name" in base and "name" in over \
                and base["name"] != over["name"]:
            replaced.add(path)
            return over
    if not (isinstance(base, Mapping) and isinstance(over, Mapping)):
        replaced.add(path)
        return over
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(base[key], value, (*path, str(key)), replaced) if key in base else value
    return out


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
    return data, replace(where, lines=lines)


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
    unknown = [str(key) for key in data if key not in allowed]
    if unknown:
        raise unknown_keys_error(path, unknown, allowed, where)
    name = data.get("name")
    if not isinstance(name, str):
        raise where.error((*path, "name"), f"expected the name of a registered {_noun(kind)}, got {name!r}")
    try:
        component = pm.registry(kind).get(name)
    except UnknownComponentError as exc:
        raise where.error((*path, "name"), str(exc)) from None
    raw = data.get("params")
    foreign = _params_of_another(path, kind, component, raw, where, pm)
    if foreign is not None:
        raise foreign
    if component.options is not None:
        params = parse_options(component.options, raw, (*path, "params"), where)
    else:
        if raw not in (None, {}):
            raise where.error((*path, "params"), f"{_noun(kind)} '{name}' takes no params")
        params = None
    return ComponentConfig(kind, name, params), component


def _option_names(component: Component) -> list[str]:
    return [f.name for f in dataclasses.fields(component.options) if f.init] if component.options else []


def _either(names: Sequence[str], word: str = "or") -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {word} {quoted[-1]}"


def _quickstart_name(path: KeyPath) -> str | None:
    """The component the quickstart config (what ``gasnas init`` starts from) names at ``path``."""
    try:
        data: Any = read_yaml(default_config_path())[0]
    except ConfigError:
        return None
    for key in path:
        data = data.get(key) if isinstance(data, Mapping) else None
    return data if isinstance(data, str) else data.get("name") if isinstance(data, Mapping) else None


def _params_of_another(path: KeyPath, kind: str, component: Component, raw: Any, where: Location,
                       pm: PluginManager) -> ConfigError | None:
    """The error for params the component lacks when another component of its kind takes them (the section's
    name was changed, its params were not); None when no other component claims them."""
    own = _option_names(component)
    unknown = [str(key) for key in raw if key not in own] if isinstance(raw, Mapping) else []
    first = _quickstart_name(path) if unknown else None
    others = sorted((c for c in pm.registry(kind) if c.name != component.name), key=lambda c: c.name != first)
    owners = {key: [c.name for c in others if key in _option_names(c)] for key in unknown}
    if not any(owners.values()):
        return None
    takes = f"'{component.name}' takes: {', '.join(own)}" if own else f"'{component.name}' takes no params"
    claimed = [key for key in unknown if owners[key]]
    stray = [key for key in unknown if not owners[key]]
    whole = [c.name for c in others if set(claimed) <= set(_option_names(c))]
    notes = {key: closest(key, own) for key in stray}
    if not whole:
        notes.update({key: f" (an option of {_either(owners[key])})" for key in claimed})
        return unknown_keys_error((*path, "params"), unknown, own, where, notes=notes, then=takes)
    which = "these params" if not stray else f"all but {_either(stray, 'and')}"
    return unknown_keys_error((*path, "params"), unknown, own, where, notes=notes, then=(
        f"{which} belong to {_noun(kind)} {_either(whole)} (the name changed, the params did not: remove or "
        f"replace them); {takes}"))


def parse_config(data: Any, where: Location, pm: PluginManager | None = None) -> SearchConfig:
    """Validate a config mapping (already read and overridden) against the registered components."""
    from gasnas.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    if not isinstance(data, Mapping):
        raise where.error((), f"expected a mapping at the top level, got {type(data).__name__}")
    if "base" in data:
        raise where.error(("base",), "a config's bases are merged when the file is read (load_config); --set "
                                     "cannot name one")
    unknown = [str(key) for key in data if key not in TOP_LEVEL]
    if unknown:  # one key is named as its own path (`sead: unknown key 'sead'`), several at the top level
        raise unknown_keys_error(tuple(unknown[:1]) if len(unknown) == 1 else (), unknown, TOP_LEVEL, where)
    values: dict[str, Any] = {"source": where.file, "bases": where.bases, **parse_run_options(data, where)}
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
    """Read (with the files it extends), override and validate a config file."""
    data, where = read_config(path)
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
    props: dict[str, Any] = {"base": {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
        "description": "the config file(s) this one extends, relative to it: deep-merged, this file winning"}}
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


def _starter_section(section: str, data: Any, name: str | None, pm: PluginManager) -> dict[str, Any]:
    """The quickstart's ``data`` for ``section``, or a section for the component ``name`` when it is another one
    (the quickstart's params are dropped: they belong to its own component; a latency section keeps its target,
    an absolute one only in the same unit, and its measure)."""
    kind = SECTIONS[section][0]
    data = {"name": data} if isinstance(data, str) else dict(data or {})
    if name is None:
        return data
    try:
        component = pm.registry(kind).get(name)
    except UnknownComponentError as exc:
        raise UnknownComponentError(f"--{section}: {exc}") from None
    if component.name == data.get("name"):
        return data
    section_data: dict[str, Any] = {"name": component.name}
    if section == "latency" and data:
        same_unit = pm.registry(kind).get(data["name"]).traits.get("unit") == component.traits.get("unit")
        keep = ("target", "target_ms", "target_relative", "measure") if same_unit else ("target_relative", "measure")
        section_data.update({k: data[k] for k in keep if k in data})
    return section_data


def starter_config(pm: PluginManager | None = None, components: Mapping[str, str] | None = None) -> str:
    """A commented config with every option, its default and its help text: the quickstart's components, or for
    a section named in ``components`` (section -> component name) that component with its own params. The text is
    checked to load (components that do not fit together are refused) before it is returned."""
    import dataclasses as dc

    from gasnas.options import help_of
    from gasnas.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    base, _ = read_yaml(default_config_path())
    chosen = {section: name for section, name in (components or {}).items() if name is not None}
    for section in chosen:
        if section not in SECTIONS:
            raise ConfigError(f"gasnas init: no section '{section}'{closest(section, SECTIONS)}; sections: "
                              f"{', '.join(SECTIONS)}")
    lines = ["# gasnas search config, written by `gasnas init`.",
             "# Run it with `gasnas search gasnas.yaml`; every option below shows its default.",
             "# Reference: https://gasnas.dev/configuration/ ; schema: `gasnas config schema`.", ""]
    for f in dataclasses.fields(RunOptions):
        lines.append(f"{f.name}: {_yaml_value(base.get(f.name, f.default))}  # {help_of(f)}")
    for section, (kind, required) in SECTIONS.items():
        data = _starter_section(section, base.get(section), chosen.get(section), pm)
        if not data:
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
            defaults = comp.example_options()  # the defaults, completed by the registered example when needed
            lines.append("  params:")
            for f in dc.fields(comp.options):
                value = given.get(f.name, options_to_dict(getattr(defaults, f.name)))
                lines.append(f"    {f.name}: {_yaml_value(value)}  # {help_of(f)}")
    lines += ["", "budget:"]
    budget = {**options_to_dict(BudgetConfig()), **(base.get("budget") or {})}
    for f in dataclasses.fields(BudgetConfig):
        lines.append(f"  {f.name}: {_yaml_value(budget[f.name])}  # {help_of(f)}")
    text = "\n".join(lines) + "\n"
    data, node = load_yaml_text(text, "gasnas init")
    parse_config(data, Location("gasnas init", _line_map(node)), pm)
    return text
