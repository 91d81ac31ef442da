"""Conformance over every registered component: a plugin is tested the moment it registers.

Generic checks for all kinds live here; behaviour checks per kind are in the neighbouring modules.
"""

from __future__ import annotations

import dataclasses

import pytest

from gasnas.options import options_schema, options_to_dict, parse_options
from gasnas.plugins import PluginManager
from gasnas.registry import REGISTRY_TYPES

PM = PluginManager()


def all_components(kind: str | None = None) -> list:
    kinds = [kind] if kind else list(REGISTRY_TYPES)
    return [pytest.param(c, id=f"{k}:{c.name}") for k in kinds for c in PM.registry(k)]


@pytest.mark.parametrize("comp", all_components())
def test_component_loads_and_describes_itself(comp):
    assert comp.description, f"{comp.kind} '{comp.name}' has no description"
    assert comp.plugin, "the registering plugin is recorded"
    assert callable(comp.load())


@pytest.mark.parametrize("comp", [p for p in all_components() if p.values[0].options is not None])
def test_options_are_frozen_typed_documented_and_round_trip(comp):
    opts = comp.options
    assert dataclasses.is_dataclass(opts) and opts.__dataclass_params__.frozen
    for f in dataclasses.fields(opts):
        assert f.metadata.get("help"), f"option {comp.name}.{f.name} has no help text"
    example = comp.example_options()  # the defaults, or the registered example params
    assert parse_options(opts, options_to_dict(example)) == example
    assert options_schema(opts)["type"] == "object"
