from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal

import pytest

from gasnas.errors import ConfigError
from gasnas.options import Location, option, options_schema, options_to_dict, parse_options


@dataclass(frozen=True)
class Inner:
    depth: int = option(2, "depth")


@dataclass(frozen=True)
class Opts:
    temperature: float = option(1.0, "softmax temperature")
    mode: Literal["softmax", "gumbel"] = option("softmax", "relaxation")
    size: tuple[int, int] = option((64, 128), "crop")
    cells: list[int] = option([1, 2], "reduction cells")
    target: float | None = option(None, "target")
    inner: Inner = option(factory=Inner, help="nested")
    flag: bool = option(False, "a flag")


def test_parse_fills_defaults_and_converts():
    opts = parse_options(Opts, {"temperature": 2, "size": [32, 64], "inner": {"depth": 5}})
    assert opts.temperature == 2.0 and isinstance(opts.temperature, float)
    assert opts.size == (32, 64)
    assert opts.inner == Inner(5)
    assert opts.cells == [1, 2]


def test_unknown_key_suggests_closest_with_file_line_and_path():
    where = Location("search.yaml", {("strategy", "params", "temprature"): 12})
    with pytest.raises(ConfigError) as err:
        parse_options(Opts, {"temprature": 1.0}, ("strategy", "params"), where)
    msg = str(err.value)
    assert msg.startswith("search.yaml:12: strategy.params: unknown key 'temprature'")
    assert "did you mean 'temperature'?" in msg and "allowed: temperature, mode" in msg


@pytest.mark.parametrize(("data", "fragment"), [
    ({"temperature": "hot"}, "p.temperature: expected a number, got 'hot'"),
    ({"mode": "gumble"}, "'gumble' is not allowed (did you mean 'gumbel'?)"),
    ({"size": [1, 2, 3]}, "p.size: expected 2 items"),
    ({"flag": 1}, "p.flag: expected true or false"),
    ({"inner": {"depht": 1}}, "p.inner: unknown key 'depht' (did you mean 'depth'?)"),
    ({"cells": [1, "x"]}, "p.cells.1: expected an integer"),
    ({"target": "x"}, "p.target: expected float | null"),
    ("oops", "p: expected a mapping of options"),
])
def test_type_errors_name_the_key_path(data, fragment):
    with pytest.raises(ConfigError) as err:
        parse_options(Opts, data, ("p",))
    assert fragment in str(err.value)


def test_schema_and_plain_dict_round_trip():
    schema = options_schema(Opts)
    assert schema["properties"]["mode"] == {"enum": ["softmax", "gumbel"], "description": "relaxation",
                                            "default": "softmax"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["inner"]["properties"]["depth"]["default"] == 2
    plain = options_to_dict(parse_options(Opts, {}))
    assert parse_options(Opts, plain) == parse_options(Opts, {})


def test_a_partial_nested_section_completes_the_fields_own_default():
    from gasnas_plugins.datasets.options import DigitScenesOptions

    augment = parse_options(DigitScenesOptions, {"augment": {"crop": None}}).augment
    assert augment.crop is None
    assert augment == dataclasses.replace(DigitScenesOptions().augment, crop=None)  # not AugmentOptions()'s scale


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(value):
    with pytest.raises(ConfigError, match="temperature: expected a finite number"):
        parse_options(Opts, {"temperature": value})
    with pytest.raises(ConfigError, match="target: expected a finite number"):
        parse_options(Opts, {"target": value})  # through the union with null too


@pytest.mark.parametrize("text, expected", [("1e-4", 1e-4), ("2E3", 2000.0), ("-1.5e-2", -0.015), (".5e1", 5.0)])
def test_scientific_notation_is_a_number_for_float_options(text, expected):
    """YAML 1.1 reads `1e-4` (no dot) as a string; a float option takes it as the number it means."""
    import yaml

    assert parse_options(Opts, yaml.safe_load(f"temperature: {text}")).temperature == expected
    with pytest.raises(ConfigError, match="expected a number"):
        parse_options(Opts, {"temperature": "1e-4 ms"})


def test_an_option_check_can_name_its_key():
    from gasnas.options import OptionValueError

    @dataclass(frozen=True)
    class Checked:
        low: float = option(0.0, "low")
        high: float = option(1.0, "high")

        def __post_init__(self) -> None:
            if self.high <= self.low:
                raise OptionValueError("high", f"must exceed low ({self.low})")

    with pytest.raises(ConfigError, match=r"strategy.params.high: must exceed low \(2.0\)"):
        parse_options(Checked, {"low": 2}, ("strategy", "params"))


def test_a_bug_in_an_options_check_is_named_not_a_crash():
    @dataclass(frozen=True)
    class Buggy:
        ratio: float = option(1.0, "ratio")

        def __post_init__(self) -> None:
            _ = 1 / 0

    with pytest.raises(ConfigError, match=r"strategy.params: the checks of .*Buggy failed: ZeroDivisionError"):
        parse_options(Buggy, {}, ("strategy", "params"))


@dataclass(frozen=True)
class Ranged:
    lr: float = option(0.1, "learning rate", gt=0)
    share: float = option(0.5, "a share", ge=0, le=1)
    epochs: int = option(3, "epochs", ge=1, le=10_000)
    betas: tuple[float, float] = option((0.5, 0.9), "betas", ge=0, lt=1)
    limit: float | None = option(None, "an optional limit", gt=0)


@pytest.mark.parametrize("data, message", [
    ({"lr": 0}, "lr: 0 is out of range: expected > 0"),
    ({"lr": -1e-3}, "lr: -0.001 is out of range: expected > 0"),
    ({"share": 1.5}, "share: 1.5 is out of range: expected in [0, 1]"),
    ({"epochs": 0}, "epochs: 0 is out of range: expected in [1, 10000]"),
    ({"betas": [0.5, 1.0]}, "betas: 1.0 is out of range: expected in [0, 1)"),
    ({"limit": -2}, "limit: -2 is out of range: expected > 0"),
])
def test_declared_ranges_are_checked_with_the_key_path(data, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_options(Ranged, data, ())
    assert parse_options(Ranged, {"limit": None, "lr": "1e-4"}).lr == 1e-4


def test_ranges_reach_the_schema():
    props = options_schema(Ranged)["properties"]
    assert props["lr"]["exclusiveMinimum"] == 0 and props["share"]["maximum"] == 1
    assert props["betas"]["prefixItems"][1]["exclusiveMaximum"] == 1
    assert {"type": "number", "exclusiveMinimum": 0} in props["limit"]["anyOf"]
