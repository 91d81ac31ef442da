"""Conformance of every registered search space, communicator, strategy and latency estimator."""

from __future__ import annotations

import json
import random

import pytest
import torch

from gasnas.api.communicator import Communicator
from gasnas.api.latency import LatencyEnv, LatencyEstimator
from gasnas.api.space import SearchSpace, Supernet, supernet_of
from gasnas.api.strategy import SearchStrategy
from gasnas.errors import ConfigError, IncompatibleComponentsError
from gasnas.registry import NNI, SAMPLING, SUPERNET

from .test_components import PM, all_components

SHAPE = (1, 3, 64, 128)


def _space(comp) -> SearchSpace:
    try:
        space = comp.build(comp.example_options())
    except ConfigError as exc:
        pytest.fail(f"space '{comp.name}' does not build from its example params ({exc}); register "
                    "`example=` params that do")
    assert isinstance(space, SearchSpace)
    return space


def _small_gas() -> SearchSpace:
    from gasnas.options import parse_options

    comp = PM.registry("search spaces").get("gas")
    return comp.build(parse_options(comp.options, {"cells": 3, "nodes": 2, "channels": 8,
                                                   "stem_channels": [8, 8, 8], "reductions": [1]}))


@pytest.mark.parametrize("comp", all_components("search spaces"))
def test_space_samples_validate_build_and_speak_nni_samples(comp):
    space = _space(comp)
    sample = space.random_sample(random.Random(0))
    space.validate(sample)
    assert set(sample) == set(space.choices())
    assert json.loads(json.dumps(sample)) == sample  # plain label -> choice values
    assert all(isinstance(label, str) and label for label in sample)
    if SAMPLING in comp.traits["capabilities"]:
        net = space.build(sample, 3).eval()
        with torch.no_grad():
            assert net(torch.randn(*SHAPE)).shape == (1, 3, *SHAPE[2:])


@pytest.mark.parametrize("comp", [p for p in all_components("search spaces")
                                  if SUPERNET in p.values[0].traits["capabilities"]])
def test_supernet_relaxes_derives_and_runs_single_paths(comp):
    space = _space(comp)
    supernet = space.build_supernet(3)
    assert isinstance(supernet, Supernet)
    choices = supernet.relaxed_choices()
    assert choices and len({c.key for c in choices}) == len(choices)
    uniform = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates)) for c in choices}
    assert supernet(torch.randn(2, *SHAPE[1:]), uniform).shape == (2, 3, *SHAPE[2:])
    derived = supernet.derive(uniform, top_k=2)
    assert len(derived) == 2
    for sample, score in derived:
        space.validate(sample)
        assert isinstance(score, float)
    single = supernet.mixing_for(derived[0][0])
    assert set(single) == set(uniform)
    assert supernet.eval()(torch.randn(*SHAPE), single).shape == (1, 3, *SHAPE[2:])


@pytest.mark.parametrize("comp", [p for p in all_components("search spaces")
                                  if SUPERNET in p.values[0].traits["capabilities"]])
def test_supernet_takes_partial_channels_or_refuses_them_clearly(comp):
    """The contract's ``partial_channels`` (PC-DARTS' K): a supernet that mixes half its channels keeps its
    choices and runs, or the space names the option it cannot serve."""
    space = _space(comp)
    choices = [c.key for c in space.build_supernet(3, partial_channels=1).relaxed_choices()]
    try:
        half = supernet_of(space, 3, 2)
    except IncompatibleComponentsError as exc:
        assert "partial_channels" in str(exc)
        return
    assert [c.key for c in half.relaxed_choices()] == choices
    uniform = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates)) for c in half.relaxed_choices()}
    assert half(torch.randn(2, *SHAPE[1:]), uniform).shape == (2, 3, *SHAPE[2:])


@pytest.mark.parametrize("comp", [p for p in all_components("search spaces")
                                  if SUPERNET in p.values[0].traits["capabilities"]])
def test_supernet_takes_edge_normalization_or_refuses_it_clearly(comp):
    """The contract's ``edge_normalization`` (PC-DARTS): a supernet with it keeps its choices, adds choices of
    granularity ``edge``, runs, and computes a derived sample's network under its mixing -- or the space names
    the option it cannot serve."""
    space = _space(comp)
    choices = list(space.build_supernet(3).relaxed_choices())
    try:
        normalised = supernet_of(space, 3, edge_normalization=True)
    except IncompatibleComponentsError as exc:
        assert "strategy.params.edge_normalization" in str(exc)
        return
    edges = [c for c in normalised.relaxed_choices() if c.granularity == "edge"]
    assert edges and [c for c in normalised.relaxed_choices() if c.granularity != "edge"] == choices
    uniform = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates)) for c in normalised.relaxed_choices()}
    assert normalised(torch.randn(2, *SHAPE[1:]), uniform).shape == (2, 3, *SHAPE[2:])
    (sample, _), = normalised.derive(uniform, 1)
    single = normalised.mixing_for(sample)
    assert set(single) == set(uniform)
    assert normalised.eval()(torch.randn(*SHAPE), single).shape == (1, 3, *SHAPE[2:])


@pytest.mark.parametrize("comp", [p for p in all_components("search spaces")
                                  if NNI in p.values[0].traits["capabilities"]])
def test_nni_form_is_an_nni_model_space_with_the_same_labels_and_networks(comp):
    from gasnas_plugins.nni_support import available

    if not available():
        pytest.skip("needs the nni extra: gasnas[nni]")
    from gasnas_plugins.nni_support import nas_nn

    space = _space(comp)
    model_space = space.nni_model_space(3)
    assert isinstance(model_space, nas_nn().ModelSpace)
    simplified = model_space.simplify()
    assert sorted(simplified) == sorted(space.choices())
    sample = space.random_sample(random.Random(0))
    with torch.no_grad():
        assert model_space.freeze(sample).eval()(torch.randn(*SHAPE)).shape == (1, 3, *SHAPE[2:])


@pytest.mark.parametrize("comp", all_components("communicators"))
def test_communicator_keeps_keys_and_shapes_and_is_differentiable(comp):
    supernet = _small_gas().build_supernet(3)
    choices = supernet.relaxed_choices()
    communicator = comp.build(comp.example_options(), choices)
    assert isinstance(communicator, Communicator)
    alphas = {c.key: torch.randn(len(c.candidates), requires_grad=True) for c in choices}
    out = communicator(alphas)
    assert set(out) == set(alphas) and all(out[k].shape == alphas[k].shape for k in out)
    sum(v.sum() for v in out.values()).backward()
    assert all(a.grad is not None for a in alphas.values())


@pytest.mark.parametrize("comp", all_components("strategies"))
def test_strategy_builds_from_its_default_options(comp):
    strategy = comp.build(comp.example_options())
    assert isinstance(strategy, SearchStrategy)
    assert comp.traits["requires"] <= {SUPERNET, SAMPLING, NNI}


@pytest.mark.parametrize("comp", all_components("latency estimators"))
def test_latency_estimator_estimates_and_its_expectation_is_differentiable(comp, tmp_path):
    options = comp.example_options()
    if options is not None and hasattr(options, "repeats"):
        from dataclasses import replace

        options = replace(options, repeats=3, warmup=1)
    estimator = comp.build(options, LatencyEnv(num_classes=3, cache_dir=tmp_path))
    assert isinstance(estimator, LatencyEstimator) and estimator.describe()
    space = _small_gas()
    value = estimator.estimate(space, space.random_sample(random.Random(0)), SHAPE)
    assert isinstance(value, float) and value > 0
    try:
        expected = estimator.expected(space, SHAPE)
    except (IncompatibleComponentsError, ConfigError):
        return
    if expected is not None:
        probs = {k: torch.full((8,), 1 / 8, requires_grad=True) for k in expected.keys}
        expected(probs).backward()
        assert any(p.grad.abs().sum() > 0 for p in probs.values())
