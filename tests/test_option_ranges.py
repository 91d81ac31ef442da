"""Every numeric option declares the range it is meaningful in, and the range is checked at load time.

Walks the options class of every registered component (all kinds, nested option sections too) and the core's
own options classes: (a) every int or float field (optional, tuple and list of numbers too) declares a range,
(b) every default lies in it, (c) a config value just outside it is a ConfigError naming the field's key path,
(d) an options object built in code with that value is refused too (its ``__post_init__`` runs
``check_ranges``).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
import types
import typing
from typing import Any, Union

import pytest
import yaml

from gasnas.config import BudgetConfig, LoaderBudget, RunOptions, default_config_path, load_config
from gasnas.errors import ConfigError
from gasnas.options import Range, check_ranges, parse_options, range_of
from gasnas.plugins import get_plugin_manager

KINDS = ("search spaces", "strategies", "latency estimators", "evaluators", "datasets", "communicators", "models")

def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _nested(tp: Any) -> list[type]:
    """The option dataclasses inside a field's type (``X``, ``X | None``)."""
    if dataclasses.is_dataclass(tp):
        return [tp]
    if typing.get_origin(tp) in (Union, types.UnionType):
        return [c for a in typing.get_args(tp) for c in _nested(a)]
    return []


def _options_classes() -> list[type]:
    from gasnas_plugins.training.options import TrainOptions

    roots = [RunOptions, LoaderBudget, BudgetConfig, TrainOptions]
    pm = get_plugin_manager()
    roots += [c.options for kind in KINDS for c in pm.registry(kind) if c.options is not None]
    found: dict[str, type] = {}
    todo = list(roots)
    while todo:
        cls = todo.pop()
        if _name(cls) in found:
            continue
        found[_name(cls)] = cls
        todo += [n for tp in _hints(cls).values() for n in _nested(tp)]
    return [found[k] for k in sorted(found)]


CLASSES = _options_classes()


def _numeric(tp: Any) -> type | None:
    """``int`` or ``float`` when the type holds numbers (alone, optional, in a tuple or list), else None."""
    if tp is bool:
        return None
    if tp in (int, float):
        return tp
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType, tuple, list):
        for arg in typing.get_args(tp):
            if arg is not Ellipsis and (found := _numeric(arg)) is not None:
                return found
    return None


def _fields() -> list:
    """(class, field) of every numeric field, as test parameters."""
    out = []
    for cls in CLASSES:
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            if f.init and _numeric(hints[f.name]) is not None:
                out.append(pytest.param(cls, f, id=f"{cls.__qualname__}.{f.name}"))
    return out


def _ranged() -> list:
    return [p for p in _fields() if range_of(p.values[1]) is not None]


def _shaped(tp: Any, x: Any) -> Any:
    """``x`` in the shape of the type: a number, a tuple of the right length or a one-item list."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return _shaped(next(a for a in typing.get_args(tp) if _numeric(a) is not None), x)
    if origin is tuple:
        args = typing.get_args(tp)
        return [x] if len(args) == 2 and args[1] is Ellipsis else [x] * len(args)
    if origin is list:
        return [x]
    return x


def _outside(r: Range, number: type) -> list[Any]:
    """Values just outside the range, below and above where it is bounded."""
    low = r.ge if r.ge is not None else r.gt
    high = r.le if r.le is not None else r.lt
    out = []
    if low is not None:
        out.append(math.floor(low) - 1 if number is int else low - 1)
    if high is not None:
        out.append(math.ceil(high) + 1 if number is int else high + 1)
    return out


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def test_the_walk_reaches_every_kind_and_the_nested_sections():
    names = {cls.__qualname__ for cls in CLASSES}
    assert {"RunOptions", "BudgetConfig", "TrainOptions", "GasSpaceOptions", "LUTOptions", "WholeNetworkOptions",
            "SegmentationOptions", "DigitScenesOptions", "AugmentOptions", "GCNOptions", "STDCOptions",
            "DifferentiableOptions"} <= names
    assert len(_ranged()) > 50


@pytest.mark.parametrize("cls, f", _fields())
def test_every_numeric_option_declares_a_range(cls, f):
    assert range_of(f) is not None, (
        f"{_name(cls)}.{f.name} ({_hints(cls)[f.name]}) declares no range: give option(...) ge/gt/le/lt "
        f"(counts: ge=1, le=MAX_COUNT; threads: ge=1, le=MAX_THREADS; learning rates: gt=0; shares: [0, 1])")


@pytest.mark.parametrize("cls, f", _ranged())
def test_every_default_lies_in_its_range(cls, f):
    value, allowed = _default(f), range_of(f)
    for x in (value if isinstance(value, (list, tuple)) else [value]):
        assert x is None or allowed.allows(x), f"{_name(cls)}.{f.name}: default {x!r} is not {allowed.describe()}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_nested_defaults_lie_in_their_ranges(cls):
    for f in dataclasses.fields(cls):
        value = _default(f)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_ranges(value)


@pytest.mark.parametrize("cls, f", _ranged())
def test_a_value_outside_the_range_is_a_config_error_naming_the_key(cls, f):
    tp = _hints(cls)[f.name]
    for bad in _outside(range_of(f), _numeric(tp)):
        with pytest.raises(ConfigError, match=re.escape(f"x.{f.name}: {bad!r} is out of range: expected")):
            parse_options(cls, {f.name: _shaped(tp, bad)}, ("x",))


@pytest.mark.parametrize("cls, f", _ranged())
def test_options_built_in_code_are_checked_too(cls, f):
    tp = _hints(cls)[f.name]
    for bad in _outside(range_of(f), _numeric(tp)):
        value = _shaped(tp, bad)
        with pytest.raises(ValueError, match=re.escape(f"{bad!r} is out of range")):
            cls(**{f.name: tuple(value) if isinstance(value, list) and typing.get_origin(tp) is not list else value})


def test_a_measurement_thread_count_no_machine_has_is_refused_at_load_time(tmp_path):
    data = yaml.safe_load(default_config_path().read_text())
    data["latency"]["measure"] = {"name": "onnxruntime", "params": {"threads": 10**12}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=re.escape("latency.measure.params.threads: 1000000000000 is out of range")):
        load_config(path)
