"""The network weights' options that the differentiable, evolution and nni strategies share come from one base
(:mod:`gasnas_plugins.strategies.options`), with each strategy's defaults unchanged."""

from __future__ import annotations

import dataclasses

import pytest

from gasnas.errors import ConfigError
from gasnas.options import parse_options
from gasnas_plugins.strategies.differentiable import DifferentiableOptions
from gasnas_plugins.strategies.evolution import EvolutionOptions
from gasnas_plugins.strategies.nni import NniStrategyOptions
from gasnas_plugins.strategies.options import SupernetTrainingOptions, SupernetWeightOptions

WEIGHTS = ("weight_lr", "weight_lr_min", "momentum", "weight_decay")
TRAINING = ("weight_optimizer", "grad_clip", "class_weight_power", "resize")


def _defaults(cls) -> dict:
    return {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}


def test_the_three_strategies_take_their_weight_options_from_one_base():
    assert issubclass(NniStrategyOptions, SupernetWeightOptions)
    for cls in (DifferentiableOptions, EvolutionOptions):
        assert issubclass(cls, SupernetTrainingOptions)
        assert not set(WEIGHTS + TRAINING) & set(vars(cls)["__annotations__"])  # not redeclared
    assert not set(TRAINING) & set(_defaults(NniStrategyOptions))  # NNI trains with SGD, no clipping or resize


@pytest.mark.parametrize("cls, expected", [
    (DifferentiableOptions, dict(weight_optimizer="adamw", weight_lr=3e-3, weight_lr_min=1e-4, momentum=0.9,
                                 weight_decay=1e-4, grad_clip=5.0, class_weight_power=0.5, resize=1.0)),
    (EvolutionOptions, dict(weight_optimizer="adamw", weight_lr=3e-3, weight_lr_min=1e-4, momentum=0.9,
                            weight_decay=1e-4, grad_clip=5.0, class_weight_power=0.5, resize=1.0)),
    (NniStrategyOptions, dict(weight_lr=0.05, weight_lr_min=1e-3, momentum=0.9, weight_decay=3e-4)),
])
def test_defaults_are_unchanged(cls, expected):
    defaults = _defaults(cls)
    assert {k: defaults[k] for k in expected} == expected


@pytest.mark.parametrize("cls", [DifferentiableOptions, EvolutionOptions, NniStrategyOptions])
@pytest.mark.parametrize("key, value", [("weight_lr", 0), ("weight_lr_min", -1e-3), ("momentum", 1.0),
                                        ("weight_decay", -1.0)])
def test_base_checks_name_the_option(cls, key, value):
    with pytest.raises(ConfigError, match=rf"strategy\.params\.{key}: .* is out of range: expected"):
        parse_options(cls, {key: value}, ("strategy", "params"))


@pytest.mark.parametrize("cls", [DifferentiableOptions, EvolutionOptions])
@pytest.mark.parametrize("key, value, fragment", [("resize", 0, r"0 is out of range: expected in \(0, 1\]"),
                                                  ("resize", 1.5, r"1.5 is out of range: expected in \(0, 1\]"),
                                                  ("class_weight_power", 3, r"3 is out of range: expected in \[0, 2\]"),
                                                  ("grad_clip", -1, "-1 is out of range: expected >= 0")])
def test_training_checks_name_the_option(cls, key, value, fragment):
    with pytest.raises(ConfigError, match=rf"strategy\.params\.{key}: {fragment}"):
        parse_options(cls, {key: value}, ("strategy", "params"))


def test_subclass_checks_still_run():
    with pytest.raises(ConfigError, match=r"strategy.params.tau_end: 0 is out of range: expected in \(0, 1000\]"):
        parse_options(DifferentiableOptions, {"tau_end": 0}, ("strategy", "params"))
    with pytest.raises(ConfigError, match=r"strategy.params.sample_size: 40 exceeds population \(16\)"):
        parse_options(EvolutionOptions, {"sample_size": 40}, ("strategy", "params"))
    with pytest.raises(ConfigError, match="strategy.params.penalty: -1 is out of range: expected in"):
        parse_options(NniStrategyOptions, {"penalty": -1}, ("strategy", "params"))
    for params in ({"grad_clip": None}, {"grad_clip": 0}, {"weight_optimizer": "sgd", "weight_lr": 0.05}):
        parse_options(DifferentiableOptions, params, ("strategy", "params"))
