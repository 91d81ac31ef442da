"""Derivations: distinct networks, and a latency target met from below by trading log-probability for latency."""

from __future__ import annotations

import random

import pytest
import torch

from gasnas.api.latency import ExpectedLatency
from gasnas_plugins.latency.flops import FlopsEstimator
from gasnas_plugins.spaces.gas.options import GasSpaceOptions
from gasnas_plugins.spaces.gas.space import GasSearchSpace
from gasnas_plugins.strategies.derivation import Cap, derive_distinct, derive_for_latency

SMALL = GasSpaceOptions(cells=3, nodes=3, channels=8, stem_channels=(8, 8, 8), reductions=(1,), head_channels=16)
SHAPE = (1, 3, 32, 64)


@pytest.fixture(scope="module")
def setup():
    space = GasSearchSpace(SMALL)
    supernet = space.build_supernet(4)
    macs = FlopsEstimator()
    expected = macs.expected(space, SHAPE)
    torch.manual_seed(0)
    probs = {c.key: torch.softmax(torch.randn(len(c.candidates)) * 2, 0) for c in supernet.relaxed_choices()}
    return space, supernet, macs, expected, probs


def _estimate(space, macs):
    return lambda sample: macs.estimate(space, sample, SHAPE)


def test_kept_costs_are_the_cost_a_derived_network_pays(setup):
    space, supernet, macs, expected, _ = setup
    sample = space.random_sample(random.Random(0))
    costs = expected.kept_costs()
    mixing = supernet.mixing_for(sample)
    kept = sum(float((mixing[k] * costs[k]).sum()) for k in costs)
    fixed = float(expected.constant)
    assert kept + fixed == pytest.approx(macs.estimate(space, sample, SHAPE), rel=1e-5)


@pytest.mark.parametrize("quantile", [0.2, 0.5, 0.8])
def test_target_derivation_meets_the_target_from_below_and_close(setup, quantile):
    space, supernet, macs, expected, probs = setup
    rng = random.Random(1)
    latencies = sorted(macs.estimate(space, space.random_sample(rng), SHAPE) for _ in range(40))
    target = latencies[int(quantile * len(latencies))]
    derived, mu = derive_for_latency(supernet, space, probs, 3, costs=expected.kept_costs(),
                                     estimate=_estimate(space, macs), target=target)
    first = macs.estimate(space, derived[0][0], SHAPE)
    assert first <= target
    assert first >= 0.93 * target  # the budget is spent, not just respected
    assert len(derived) == 3


def test_limit_derivation_keeps_the_argmax_when_it_fits(setup):
    space, supernet, macs, expected, probs = setup
    (argmax, _), = supernet.derive(probs, 1)
    generous = 2 * macs.estimate(space, argmax, SHAPE)
    derived, mu = derive_for_latency(supernet, space, probs, 1, costs=expected.kept_costs(),
                                     estimate=_estimate(space, macs), target=generous, mode="limit")
    assert mu == 0 and derived[0][0] == argmax
    derived, mu = derive_for_latency(supernet, space, probs, 1, costs=expected.kept_costs(),
                                     estimate=_estimate(space, macs), target=generous, mode="target")
    assert mu < 0 and macs.estimate(space, derived[0][0], SHAPE) > macs.estimate(space, argmax, SHAPE)


def test_an_unreachable_target_gives_the_fastest_derivation(setup):
    space, supernet, macs, expected, probs = setup
    derived, _ = derive_for_latency(supernet, space, probs, 2, costs=expected.kept_costs(),
                                    estimate=_estimate(space, macs), target=1e-9)
    ops = [v for k, v in derived[0][0].items() if "/op_" in k]
    assert set(ops) <= {"skip_connect", "max_pool_3x3"}  # nothing cheaper exists


def test_a_target_beyond_the_space_spends_it_on_costly_operations(setup):
    """A target above every architecture's latency: the target mode derives (nearly) the costliest network, not
    the cheapest costed operation everywhere (what an exp(-mu * cost) overflowing to inf used to give)."""
    space, supernet, macs, expected, probs = setup
    rng = random.Random(2)
    randoms = [macs.estimate(space, space.random_sample(rng), SHAPE) for _ in range(40)]
    derived, mu = derive_for_latency(supernet, space, probs, 1, costs=expected.kept_costs(),
                                     estimate=_estimate(space, macs), target=100 * max(randoms))
    ops = [v for k, v in derived[0][0].items() if "/op_" in k]
    assert mu < 0 and "max_pool_3x3" not in ops and "skip_connect" not in ops
    assert macs.estimate(space, derived[0][0], SHAPE) > max(randoms)


def test_distinct_derivation_drops_samples_that_build_the_same_network(setup):
    space, supernet, _, _, probs = setup

    class Coarse(GasSearchSpace):
        def canonical(self, sample):  # as if node 2 of cell 2 did not change the network (a block left out)
            return {k: v for k, v in sample.items() if not k.startswith(("cell2/op_2_", "cell2/input_2_"))}

    coarse = Coarse(SMALL)
    # node 2 of cell 2 undecided (49 equally likely operation pairs): the plain top-4 differ only there
    probs = {k: (torch.full_like(p, 1 / len(p)) if k.startswith("cell2/edge_2_") else p) for k, p in probs.items()}
    plain = derive_distinct(supernet, space, probs, 4)
    assert len({repr(sorted(coarse.canonical(s).items())) for s, _ in plain}) == 1
    distinct = derive_distinct(supernet, coarse, probs, 4)
    assert len({repr(sorted(coarse.canonical(s).items())) for s, _ in distinct}) == 4
    assert distinct[0] == plain[0]
    scores = [score for _, score in distinct]
    assert scores == sorted(scores, reverse=True)


def _skip_heavy(supernet):
    """Probabilities under which every edge's most probable operation is a skip connection."""
    torch.manual_seed(1)
    out = {}
    for c in supernet.relaxed_choices():
        logits = torch.randn(len(c.candidates))
        logits[c.candidates.index("skip_connect")] += 4.0
        out[c.key] = torch.softmax(logits, 0)
    return out


def test_a_skip_cap_holds_in_every_cell_of_every_derived_network(setup):
    space, supernet, macs, expected, _ = setup
    probs = _skip_heavy(supernet)
    cap = Cap("skip_connect", 2)
    (free, _), = derive_distinct(supernet, space, probs, 1)
    assert max(cap.counts(supernet, free).values()) == 6  # uncapped: every kept edge of every cell
    capped = derive_distinct(supernet, space, probs, 3, cap)
    assert len(capped) == 3
    for sample, _ in capped:
        counts = cap.counts(supernet, sample)
        assert set(counts) == {"cell0", "cell1", "cell2"} and max(counts.values()) == 2  # capped, not emptied
    rng = random.Random(3)
    latencies = sorted(macs.estimate(space, space.random_sample(rng), SHAPE) for _ in range(40))
    for target in (latencies[0], latencies[20]):  # latency pressure favours skips too: the cap still holds
        derived, _ = derive_for_latency(supernet, space, probs, 2, costs=expected.kept_costs(),
                                        estimate=_estimate(space, macs), target=target, cap=cap)
        assert all(cap.holds(supernet, s) for s, _ in derived)


def test_a_cap_that_already_holds_changes_nothing(setup):
    space, supernet, _, _, probs = setup
    plain = derive_distinct(supernet, space, probs, 3)
    capped = derive_distinct(supernet, space, probs, 3, Cap("skip_connect", 6))
    assert [s for s, _ in plain] == [s for s, _ in capped]
