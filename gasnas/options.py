"""Typed component options: frozen dataclasses checked against YAML before anything heavy runs.

A component declares its options as a frozen dataclass whose fields carry a type, a default and a help text::

    @dataclass(frozen=True)
    class MyOptions:
        beta: float = option(0.1, "weight of the latency term")
        relaxation: Literal["softmax", "gumbel"] = option("softmax", "how choices are relaxed")

:func:`parse_options` turns a ``params`` mapping into an instance, naming the file, line and key path of any
mistake; :func:`options_schema` gives the JSON schema of the same dataclass.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, Union

from gasnas.errors import ConfigError, closest

__all__ = ["option", "Range", "range_of", "check_ranges", "OptionValueError", "Location", "parse_options", "parse_value",
           "options_schema", "options_to_dict", "help_of", "unknown_keys_error"]

T = TypeVar("T")
KeyPath = tuple[str, ...]
#: scientific notation without a dot (``1e-4``), which YAML 1.1 leaves a string
SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


@dataclass(frozen=True)
class Range:
    """The values a numeric option allows (``ge``/``gt``: lower bound, inclusive/exclusive; ``le``/``lt``: upper);
    for a list or tuple option, every number in it."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def allows(self, x: float) -> bool:
        return ((self.ge is None or x >= self.ge) and (self.gt is None or x > self.gt)
                and (self.le is None or x <= self.le) and (self.lt is None or x < self.lt))

    def describe(self) -> str:
        """``"> 0"``, ``"in [0, 1]"``, ``"in (0, 1]"``..."""
        low = f"[{_num(self.ge)}" if self.ge is not None else f"({_num(self.gt)}" if self.gt is not None else None
        high = f"{_num(self.le)}]" if self.le is not None else f"{_num(self.lt)})" if self.lt is not None else None
        if low and high:
            return f"in {low}, {high}"
        if low:
            return f"{'>=' if self.ge is not None else '>'} {low[1:]}"
        return f"{'<=' if self.le is not None else '<'} {high[:-1]}" if high else "any number"

    def schema(self) -> dict[str, float]:
        keys = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}
        return {keys[k]: getattr(self, k) for k in keys if getattr(self, k) is not None}


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def option(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = dataclasses.MISSING,
           ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None) -> Any:
    """A dataclass field with a help text (shown in the schema, the docs and ``gasnas init``) and, for numbers,
    the range it allows (``ge``, ``gt``, ``le``, ``lt``), checked when a config loads."""
    metadata: dict[str, Any] = {"help": help}
    if any(b is not None for b in (ge, gt, le, lt)):
        metadata["range"] = Range(ge, gt, le, lt)
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=metadata)
    if isinstance(default, (list, dict, set)):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata=metadata)
    return field(default=default, metadata=metadata)


def range_of(f: dataclasses.Field) -> Range | None:
    """The declared range of an option, if any."""
    return f.metadata.get("range")


def _out_of_range(f: dataclasses.Field, value: Any, given: Any = None) -> str | None:
    """The message for the first number in ``value`` (shown as written in ``given``, when given) outside the
    option's declared range, else None."""
    allowed = range_of(f)
    if allowed is None or value is None or isinstance(value, bool):
        return None
    given = value if given is None else given
    pairs = zip(value, given) if isinstance(value, (list, tuple)) else [(value, given)]
    for x, shown in pairs:
        if isinstance(x, (int, float)) and not isinstance(x, bool) and not allowed.allows(x):
            return f"{shown!r} is out of range: expected {allowed.describe()}"
    return None


def check_ranges(options: Any) -> None:
    """Check an options instance against its fields' declared ranges (for ``__post_init__``: options built in
    code, not from a config, get the same checks); raises :class:`OptionValueError` naming the option."""
    for f in dataclasses.fields(options):
        problem = _out_of_range(f, getattr(options, f.name))
        if problem is not None:
            raise OptionValueError(f.name, problem)


def _check_range(f: dataclasses.Field, value: Any, given: Any, path: KeyPath, where: Location) -> None:
    """``value`` (parsed from ``given``) against the option's declared range."""
    problem = _out_of_range(f, value, given)
    if problem is not None:
        raise where.error(path, problem)


class OptionValueError(ValueError):
    """Raised by an options class's own checks (``__post_init__``) to name the option at fault: the config
    error then points at that key and its line."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def help_of(f: dataclasses.Field) -> str:
    return str(f.metadata.get("help", ""))


@dataclass(frozen=True)
class Location:
    """Where a value came from: the file and, for each key path, its line; for a config that extends others
    (``base:``), the file of each key read from a base (``files``) and the bases merged under ``file``, in
    merge order (``bases``)."""

    file: str = "<config>"
    lines: Mapping[KeyPath, int] = field(default_factory=dict)
    files: Mapping[KeyPath, str] = field(default_factory=dict)
    bases: tuple[str, ...] = ()

    def origin(self, path: KeyPath) -> tuple[str, int | None]:
        """The file and line of ``path``, or of its closest parent with a known line."""
        while path:
            if path in self.lines:
                return self.files.get(path, self.file), self.lines[path]
            path = path[:-1]
        return self.file, None

    def line_of(self, path: KeyPath) -> int | None:
        return self.origin(path)[1]

    def describe(self, path: KeyPath, at: KeyPath | None = None) -> str:
        file, line = self.origin(at if at is not None else path)
        where = f"{file}:{line}" if line is not None else file
        key = ".".join(path) if path else "(top level)"
        return f"{where}: {key}"

    def error(self, path: KeyPath, message: str, at: KeyPath | None = None) -> ConfigError:
        """A :class:`ConfigError` about ``path``; ``at`` is the key whose line to show, when more precise."""
        return ConfigError(f"{self.describe(path, at)}: {message}")


def unknown_keys_error(path: KeyPath, unknown: Sequence[str], allowed: Sequence[str], where: Location, *,
                       notes: Mapping[str, str] | None = None, then: str | None = None) -> ConfigError:
    """One error naming every unknown key of the mapping at ``path``, each followed by its ``notes`` entry (by
    default the closest allowed spelling), then ``then`` (by default what is allowed); the line shown is the
    first unknown key's."""
    notes = notes if notes is not None else {key: closest(key, allowed) for key in unknown}
    keys = ", ".join(f"'{key}'{notes.get(key, '')}" for key in unknown)
    then = then if then is not None else f"allowed: {', '.join(allowed) or '(none)'}"
    return where.error(path, f"unknown key{'s' if len(unknown) > 1 else ''} {keys}; {then}", at=(*path, unknown[0]))


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(repr(v) for v in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple, dict):
        args = ", ".join(_type_name(a) if a is not Ellipsis else "..." for a in typing.get_args(tp))
        return f"{origin.__name__}[{args}]"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def parse_value(tp: Any, value: Any, path: KeyPath, where: Location) -> Any:
    """Check ``value`` against the type ``tp`` and convert it (lists to tuples, mappings to dataclasses)."""
    origin = typing.get_origin(tp)
    if isinstance(value, float) and not math.isfinite(value):  # no option means NaN or infinity
        raise where.error(path, f"expected a finite number, got {value!r}")
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise where.error(path, f"expected null, got {value!r}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value in allowed and type(value) in {type(a) for a in allowed}:
            return value
        hint = closest(str(value), [str(a) for a in allowed]) if isinstance(value, str) else ""
        raise where.error(path, f"{value!r} is not allowed{hint}; allowed: {', '.join(repr(a) for a in allowed)}")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):  # null is "none", not an empty section
            return None
        sections = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)]
        if isinstance(value, Mapping) and len(sections) == 1:  # an optional section: its own errors, by key path
            return parse_options(sections[0], value, path, where)
        errors = []
        for arg in typing.get_args(tp):
            try:
                return parse_value(arg, value, path, where)
            except ConfigError as exc:
                errors.append(exc)
        raise where.error(path, f"expected {_type_name(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        return parse_options(tp, value, path, where)
    if origin is list or tp is list:
        (item,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise where.error(path, f"expected a list, got {value!r}")
        return [parse_value(item, v, (*path, str(i)), where) for i, v in enumerate(value)]
    if origin is tuple or tp is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise where.error(path, f"expected a list ({_type_name(tp)}), got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(args[0], v, (*path, str(i)), where) for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise where.error(path, f"expected {len(args)} items ({_type_name(tp)}), got {len(value)}")
        return tuple(parse_value(a, v, (*path, str(i)), where) for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict or tp is dict:
        key_tp, val_tp = typing.get_args(tp) or (str, Any)
        if not isinstance(value, Mapping):
            raise where.error(path, f"expected a mapping, got {value!r}")
        return {parse_value(key_tp, k, path, where): parse_value(val_tp, v, (*path, str(k)), where) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise where.error(path, f"expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise where.error(path, f"expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, str) and SCIENTIFIC.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string; a float option means the number
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value) if abs(value) < 1e308 else math.inf
            if not math.isfinite(number):
                raise where.error(path, f"expected a finite number, got {value!r}")
            return number
        raise where.error(path, f"expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise where.error(path, f"expected a string, got {value!r}")
    raise TypeError(f"unsupported option type {tp!r} at {'.'.join(path)}")


def parse_options(cls: type[T], data: Any, path: KeyPath = (), where: Location | None = None) -> T:
    """Build the options dataclass ``cls`` from a mapping, reporting unknown keys and wrong types by key path."""
    where = where or Location()
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise where.error(path, f"expected a mapping of options, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [str(key) for key in data if key not in fields]
    if unknown:
        raise unknown_keys_error(path, unknown, list(fields), where)
    values = {}
    for name, f in fields.items():
        if name in data:
            value = data[name]
            if isinstance(value, Mapping) and dataclasses.is_dataclass(f.default):
                # a partial nested section completes the field's own default (a dataset's augmentation with
                # only `crop` given keeps that dataset's scale and flip), not the nested class's defaults
                value = {**options_to_dict(f.default), **value}
            values[name] = parse_value(hints[name], value, (*path, name), where)
            _check_range(f, values[name], value, (*path, name), where)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise where.error((*path, name), f"required option is missing ({help_of(f) or _type_name(hints[name])})")
    try:
        return cls(**values)
    except OptionValueError as exc:  # a check that names its option
        raise where.error((*path, exc.key), str(exc)) from None
    except (ValueError, TypeError) as exc:  # __post_init__ cross-field checks
        raise where.error(path, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a bug in the options' own checks: name them, do not crash
        raise where.error(path, f"the checks of {cls.__module__}.{cls.__qualname__} failed: "
                                f"{type(exc).__name__}: {exc}") from exc


def options_to_dict(options: Any) -> dict[str, Any]:
    """A plain, YAML-ready mapping of an options dataclass (tuples become lists)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(options)


def _schema_of(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if tp is Any:
        return {}
    if tp is type(None):
        return {"type": "null"}
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema_of(a) for a in typing.get_args(tp)]}
    if dataclasses.is_dataclass(tp):
        return options_schema(tp)
    if origin is list or tp is list:
        args = typing.get_args(tp)
        return {"type": "array", "items": _schema_of(args[0]) if args else {}}
    if origin is tuple or tp is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema_of(args[0])}
        return {"type": "array", "prefixItems": [_schema_of(a) for a in args], "minItems": len(args), "maxItems": len(args)}
    if origin is dict or tp is dict:
        args = typing.get_args(tp)
        return {"type": "object", "additionalProperties": _schema_of(args[1]) if args else {}}
    return {bool: {"type": "boolean"}, int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"}}[tp]


def _apply_range(schema: dict[str, Any], bounds: dict[str, float]) -> None:
    """Put ``bounds`` on the numeric parts of ``schema`` (through unions and arrays)."""
    if schema.get("type") in ("integer", "number"):
        schema.update(bounds)
    for key in ("anyOf", "prefixItems"):
        for sub in schema.get(key, []):
            _apply_range(sub, bounds)
    if isinstance(schema.get("items"), dict):
        _apply_range(schema["items"], bounds)


def options_schema(cls: type) -> dict[str, Any]:
    """The JSON schema of an options dataclass: types, defaults and help texts."""
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        prop = _schema_of(hints[f.name])
        if range_of(f) is not None:
            _apply_range(prop, range_of(f).schema())
        if help_of(f):
            prop["description"] = help_of(f)
        if f.default is not dataclasses.MISSING:
            prop["default"] = options_to_dict(f.default) if dataclasses.is_dataclass(f.default) else (
                list(f.default) if isinstance(f.default, tuple) else f.default)
        elif f.default_factory is not dataclasses.MISSING:
            prop["default"] = options_to_dict(f.default_factory())
        else:
            required.append(f.name)
        props[f.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
        schema["description"] = cls.__doc__.strip().splitlines()[0]
    if required:
        schema["required"] = required
    return schema
