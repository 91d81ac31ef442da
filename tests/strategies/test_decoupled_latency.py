"""FasterSeg's decoupled latency term, cost terms over several choices, and the latency-weight controller.

Block costs are injected (a hash of the block's signature) or counted (flops): no timing decides a test.
"""

from __future__ import annotations

import itertools
import math
import random
import zlib
from types import SimpleNamespace

import pytest
import torch
import yaml

from gasnas.api.latency import ExpectedLatency, total_cost
from gasnas.api.space import Block, CostTerm
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import ConfigError, LatencyError
from gasnas.options import parse_options
from gasnas.reporting import NullReporter
from gasnas_plugins.spaces.dcnas.options import DcnasSpaceOptions
from gasnas_plugins.spaces.dcnas.space import DcnasSearchSpace
from gasnas_plugins.spaces.fasterseg.options import FasterSegSpaceOptions
from gasnas_plugins.spaces.fasterseg.space import FasterSegSearchSpace
from gasnas_plugins.spaces.gas.options import GasSpaceOptions
from gasnas_plugins.spaces.gas.space import GasSearchSpace
from gasnas_plugins.strategies.differentiable import DifferentiableOptions, LatencyController
from gasnas_plugins.strategies.differentiable.losses import Decoupled
from gasnas_plugins.strategies.differentiable.strategy import DifferentiableSearch

#: a small fasterseg space whose every sample can be enumerated (2 ops, 2 widths, 3 layers: 2^13 samples)
SMALL = FasterSegSpaceOptions(layers=3, channels=8, stem_channels=8, head_channels=8, ops=("skip", "conv"),
                              widths=(6, 12))


def _cost(block: Block) -> float:
    """A deterministic, block-specific cost in (0, 10]."""
    return 1 + zlib.crc32(block.signature.encode()) % 900 / 100


def _probs(choices, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {c.key: torch.softmax(torch.randn(len(c.candidates), generator=g), 0).requires_grad_()
            for c in choices}


def test_a_term_over_two_choices_is_the_expectation_over_their_joint_distribution():
    blocks = [Block(f"b{i}", ((1, 1),), lambda: None) for i in range(6)]
    cost = {b.signature: float(i + 1) ** 1.5 for i, b in enumerate(blocks)}
    # candidates indexed by (a, b) row-major, a has 3 candidates and b 2; counted when c is 1, or c is 0 and d 2
    given = ((("c", 1),), (("c", 0), ("d", 2)))
    terms = [CostTerm("g", tuple((b,) for b in blocks), ("a", "b"), weight=0.5, given=given),
             CostTerm("g", ((blocks[0],), (blocks[1],), (blocks[2],)), "d")]
    expected = ExpectedLatency(terms, lambda b: cost[b.signature])
    assert expected.keys == ["a", "b", "c", "d"]
    probs = {"a": torch.tensor([0.2, 0.5, 0.3]), "b": torch.tensor([0.6, 0.4]), "c": torch.tensor([0.7, 0.3]),
             "d": torch.tensor([0.1, 0.3, 0.6])}
    enumerated = 0.0
    for a, b, c, d in itertools.product(range(3), range(2), range(2), range(3)):
        p = float(probs["a"][a] * probs["b"][b] * probs["c"][c] * probs["d"][d])
        counted = c == 1 or (c == 0 and d == 2)
        enumerated += p * (0.5 * cost[blocks[a * 2 + b].signature] * counted + cost[blocks[d].signature])
    assert float(expected(probs)) == pytest.approx(enumerated, rel=1e-6)
    with pytest.raises(LatencyError, match="has 6 candidates, but the choices have 2 x 2"):
        expected({**probs, "a": torch.tensor([0.5, 0.5])})


def test_the_fasterseg_expectation_is_exact_against_enumeration_of_every_network():
    space = FasterSegSearchSpace(SMALL)
    shape = (1, 3, 64, 64)
    expected = ExpectedLatency(space.cost_terms(shape), _cost)
    choices = space.build_supernet(3).relaxed_choices()
    probs = {k: v.detach() for k, v in _probs(choices, seed=1).items()}
    labels = list(space.choices())
    grids = [space.choices()[label].grid() for label in labels]
    assert math.prod(len(g) for g in grids) == 2 ** 13
    values = {c.key: [int(v) if c.key.endswith("/width") else v for v in c.candidates] for c in choices}
    enumerated, seen = 0.0, {}
    for combo in itertools.product(*grids):
        sample = dict(zip(labels, combo))
        p = math.prod(float(probs[k][values[k].index(v)]) for k, v in sample.items())
        key = tuple(sorted(space.canonical(sample).items()))
        if key not in seen:  # the networks, not the samples, are costed (2^13 samples hold far fewer)
            seen[key] = total_cost(space.cost_terms(shape, sample), _cost)
        enumerated += p * seen[key]
    assert float(expected(probs)) == pytest.approx(enumerated, rel=1e-5)


@pytest.mark.parametrize("head_choice", [False, True])
def test_the_fasterseg_expectation_at_a_network_is_that_networks_cost(head_choice):
    space = FasterSegSearchSpace(FasterSegSpaceOptions(head_choice=head_choice))
    shape = (1, 3, 64, 128)
    expected = ExpectedLatency(space.cost_terms(shape), _cost)
    supernet = space.build_supernet(3)
    for seed in range(8):
        sample = space.random_sample(random.Random(seed))
        cost = total_cost(space.cost_terms(shape, sample), _cost)
        assert float(expected(supernet.mixing_for(sample))) == pytest.approx(cost, rel=1e-5)


@pytest.mark.parametrize("granularity", ["op", "path", "width"])
def test_each_decoupled_term_relaxes_only_its_own_choices(granularity):
    space = FasterSegSearchSpace(SMALL)
    expected = ExpectedLatency(space.cost_terms((1, 3, 64, 64)), _cost)
    choices = space.build_supernet(3).relaxed_choices()
    assert {c.granularity for c in choices} == {"op", "path", "width"}
    weights = {g: float(g == granularity) for g in ("op", "path", "width")}
    for hold in ("uniform", "argmax"):
        probs = _probs(choices)
        Decoupled(choices, weights, hold)(expected, probs).backward()
        moved = {c.key for c in choices if probs[c.key].grad is not None and probs[c.key].grad.abs().sum() > 0}
        own = {c.key for c in choices if c.granularity == granularity and c.key in expected.keys}
        assert moved <= own  # nothing of another granularity moves
        # held uniform, every cell some network holds counts; held at the argmax, those on its paths
        assert moved == own if hold == "uniform" else moved, (hold, own - moved)


@pytest.mark.parametrize("granularity", ["op", "path"])
def test_the_dcnas_paths_and_operations_are_decoupled_apart(granularity):
    space = DcnasSearchSpace(parse_options(DcnasSpaceOptions, {"preset": "dcnas-tiny"}))
    expected = ExpectedLatency(space.cost_terms((1, 3, 64, 128)), _cost)
    choices = space.build_supernet(3).relaxed_choices()
    assert {c.granularity for c in choices if c.key.endswith("/inputs")} == {"path"}
    assert {c.granularity for c in choices if not c.key.endswith("/inputs")} == {"op"}
    probs = _probs(choices)
    Decoupled(choices, {"op": float(granularity == "op"), "path": float(granularity == "path")}, "uniform")(
        expected, probs).backward()
    moved = {c.key for c in choices if probs[c.key].grad is not None and probs[c.key].grad.abs().sum() > 0}
    assert moved and moved <= {c.key for c in choices if c.granularity == granularity}


def test_held_choices_are_uniform_argmax_or_the_spaces_held_candidate():
    choices = FasterSegSearchSpace(SMALL).build_supernet(3).relaxed_choices()
    probs = _probs(choices)
    width = next(c for c in choices if c.granularity == "width")
    op = next(c for c in choices if c.granularity == "op")
    assert width.held == 1  # the full width (12 of 6, 12), as FasterSeg's forward_latency
    uniform = Decoupled(choices, {"op": 1, "path": 1, "width": 1}, "uniform").held(probs, "path")
    assert uniform[width.key].tolist() == [0.0, 1.0] and uniform[op.key].tolist() == [0.5, 0.5]
    argmax = Decoupled(choices, {"op": 1, "path": 1, "width": 1}, "argmax").held(probs, "path")
    assert argmax[op.key].argmax() == probs[op.key].argmax() and argmax[op.key].sum() == 1


def test_decoupled_weights_come_from_the_options_the_space_or_equal_and_bad_ones_are_named():
    fasterseg = FasterSegSearchSpace(SMALL)
    choices = fasterseg.build_supernet(3).relaxed_choices()
    decoupled = DifferentiableOptions(latency_granularity="decoupled")
    assert Decoupled.of(decoupled, fasterseg, choices).weights == pytest.approx(
        {"op": 1 / 500, "path": 497 / 500, "width": 2 / 500})  # FasterSeg's
    mine = DifferentiableOptions(latency_granularity="decoupled", latency_weights={"op": 1, "path": 2, "width": 1})
    assert Decoupled.of(mine, fasterseg, choices).weights == {"op": 0.25, "path": 0.5, "width": 0.25}
    with pytest.raises(ConfigError, match="no weight for width"):
        Decoupled.of(DifferentiableOptions(latency_granularity="decoupled", latency_weights={"op": 1, "path": 1}),
                     fasterseg, choices)
    with pytest.raises(ConfigError, match="depth is none of them"):
        Decoupled.of(DifferentiableOptions(latency_granularity="decoupled",
                                           latency_weights={"op": 1, "path": 1, "width": 1, "depth": 1}),
                     fasterseg, choices)
    with pytest.raises(ValueError, match="must be >= 0"):
        DifferentiableOptions(latency_weights={"op": -1.0})
    gas = GasSearchSpace(GasSpaceOptions(cells=2, reductions=(1,), nodes=2, channels=8, stem_channels=(8, 8, 8)))
    assert Decoupled.of(decoupled, gas, gas.build_supernet(3).relaxed_choices()).weights == {"op": 1.0}


def test_the_gas_space_gives_the_same_loss_and_gradient_coupled_and_decoupled():
    space = GasSearchSpace(GasSpaceOptions(cells=2, reductions=(1,), nodes=2, channels=8, stem_channels=(8, 8, 8)))
    expected = ExpectedLatency(space.cost_terms((1, 3, 32, 32)), _cost, exclude_zero=True)
    choices = space.build_supernet(3).relaxed_choices()
    coupled, decoupled = _probs(choices), _probs(choices)
    a = expected(coupled)
    b = Decoupled.of(DifferentiableOptions(latency_granularity="decoupled"), space, choices)(expected, decoupled)
    assert float(a.detach()) == float(b.detach())
    a.backward()
    b.backward()
    assert all(torch.equal(coupled[k].grad, decoupled[k].grad) for k in coupled)


def _controlled(band=(0.9, 1.0), relative=True, factor=2.0) -> DifferentiableSearch:
    options = DifferentiableOptions(beta=0.5, latency_loss="linear",
                                    latency_controller=LatencyController(band, relative, factor))
    strategy = DifferentiableSearch(options)
    strategy.ctx = SimpleNamespace(latency_target=10.0)
    strategy.latency_scale = 1.0
    return strategy


def test_the_controller_doubles_the_weight_above_the_band_and_halves_it_below():
    strategy = _controlled()
    assert strategy.control(12.0) == 1.0  # above 10: 0.5 * 2
    assert strategy.control(11.0) == 2.0
    assert strategy.control(9.5) == 2.0  # inside [9, 10]: unchanged
    assert strategy.control(None) == 2.0  # no derived latency: unchanged
    assert strategy.control(4.0) == 1.0  # below 9: halved
    absolute = _controlled(band=(3.0, 4.0), relative=False, factor=4.0)
    assert absolute.control(5.0) == 2.0 and absolute.control(2.0) == 0.5
    with pytest.raises(ValueError, match="low < high"):
        LatencyController(band=(1.0, 0.5))
    # a run's written config says `latency_controller: null`: read back, that is off, not the defaults
    assert parse_options(DifferentiableOptions, {"latency_controller": None}).latency_controller is None
    assert parse_options(DifferentiableOptions, {"latency_controller": {}}).latency_controller == LatencyController()


def test_a_decoupled_controlled_fasterseg_search_runs_and_records_the_weight(gas_config):
    overrides = ["space.name=fasterseg", "space.params={layers: 3, channels: 8, stem_channels: 8, head_channels: 8, "
                 "ops: [skip, conv], widths: [6, 12]}", "communicator.name=none", "latency.name=flops",
                 "latency.params={}", "latency.measure=null", "latency.target_relative=1.0",
                 "strategy.params={warmup_epochs: 1, top_k: 1, val_batches: 1, relaxation: softmax, arch_lr: 0.05, "
                 "latency_loss: hinge, beta: 1.0, latency_granularity: decoupled, "
                 "derivation: argmax, latency_controller: {band: [0.5, 0.6]}}", "budget.epochs=2",
                 "budget.steps_per_epoch=2"]
    engine = Engine(load_config(gas_config, overrides), reporter=NullReporter())
    result = engine.run()
    records = [yaml.safe_load(line) for line in (engine.run_dir.path / "metrics.jsonl").open()]
    assert "latency_weight" not in records[0]  # the warm-up
    weight, low, high = 1.0, 0.5 * engine.latency_target, 0.6 * engine.latency_target
    for record in records[1:]:  # after each search epoch: doubled above the band, halved below
        derived = record["derived_latency"]
        weight *= 2.0 if derived > high else 0.5 if derived < low else 1.0
        assert record["latency_weight"] == weight
    engine.space.validate(result.best.sample)
    with pytest.raises(ConfigError, match="latency_controller: the lagrangian multiplier adapts"):
        load_config(gas_config, ["strategy.params.latency_controller={band: [0.9, 1.0]}",
                                 "strategy.params.latency_loss=lagrangian", "latency.target_relative=1.0"])
    with pytest.raises(ConfigError, match="latency_weights: is read only by the decoupled latency term"):
        load_config(gas_config, ["strategy.params.latency_weights={op: 1}"])


def test_cost_terms_over_several_choices_keep_old_single_choice_terms_working():
    term = CostTerm("g", ((),), "k", zero=0)
    assert term.keys == ("k",) and term.zeros == (0,)
    assert CostTerm("g", ((),)).keys == () and CostTerm("g", ((),), ("a", "b")).zeros == (None, None)
    with pytest.raises(LatencyError, match="relaxed term"):
        total_cost([CostTerm("g", ((),), given=((("a", 0),),))], _cost)
