"""The split-half reliability of a search's per-edge evidence."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from gasnas_plugins.strategies.differentiable.reliability import SplitHalf, pools

OPS = ("zero", "skip", "conv", "pool")


def _choices(n: int = 12) -> list[SimpleNamespace]:
    return [SimpleNamespace(key=f"edge{i}", candidates=OPS) for i in range(n)] + [
        SimpleNamespace(key="input", candidates=("a", "b"))]  # alone with its candidates: nothing to pool with


def _run(split: SplitHalf, epochs: int, steps: int, evidence) -> None:
    for epoch in range(epochs):
        for _ in range(steps):
            split.add(epoch, {f"edge{i}": evidence(f"edge{i}") for i in range(12)} | {"input": torch.randn(2)})


def test_choices_pool_by_their_candidates():
    assert pools(_choices(3)) == [["edge0", "edge1", "edge2"]]


def test_edges_with_their_own_signal_are_reliable_and_noise_is_not():
    torch.manual_seed(0)
    own = {f"edge{i}": torch.randn(len(OPS)) for i in range(12)}
    steady = SplitHalf(pools(_choices()))
    _run(steady, 10, 5, lambda k: own[k] + torch.randn(len(OPS)))
    assert steady.reliability() > 0.9

    noise = [SplitHalf(pools(_choices())) for _ in range(20)]
    for split in noise:
        _run(split, 10, 5, lambda k: torch.randn(len(OPS)))
    assert sum(s.reliability() for s in noise) / len(noise) < 0.25  # mostly floored at 0


def test_evidence_shared_by_every_edge_is_not_per_edge_reliability():
    torch.manual_seed(1)
    common = torch.tensor([0.0, -1.0, 2.0, 1.0])
    split = SplitHalf(pools(_choices()))
    _run(split, 10, 5, lambda k: common + 0.1 * torch.randn(len(OPS)))
    assert split.reliability() < 0.5


def test_nothing_is_known_before_both_halves_hold_evidence_and_the_state_round_trips():
    split = SplitHalf(pools(_choices()))
    assert split.reliability() is None
    _run(split, 1, 3, lambda k: torch.randn(len(OPS)))
    assert split.reliability() is None
    _run(split, 2, 3, lambda k: torch.randn(len(OPS)))
    assert 0.0 <= split.reliability() <= 1.0
    copy = SplitHalf(pools(_choices()))
    copy.load_state_dict(split.state_dict())
    assert copy.reliability() == split.reliability()


def test_a_step_records_the_accuracy_evidence_without_the_latency_term():
    from gasnas_plugins.strategies.differentiable.strategy import DifferentiableSearch

    strategy = DifferentiableSearch()
    alpha = {f"edge{i}": torch.zeros(len(OPS), requires_grad=True) for i in range(12)}
    strategy.arch_params = list(alpha.values())
    strategy.split = SplitHalf(pools(_choices()))
    cost = torch.tensor([0.0, 0.0, 3.0, 1.0])
    accuracy = {k: torch.randn(len(OPS)) for k in alpha}
    probs = {k: torch.softmax(v, -1) for k, v in alpha.items()}
    term = 5.0 * sum((p * cost).sum() for p in probs.values())  # a latency term: E[cost] scaled
    loss = sum((accuracy[k] * v).sum() for k, v in alpha.items()) + term
    strategy._backward_with_evidence(loss, term, alpha, epoch=3)
    recorded = strategy.split.halves[1]
    for k, v in alpha.items():
        assert torch.allclose(recorded[k].float(), -accuracy[k], atol=1e-5)  # minus the accuracy gradient only
        assert v.grad is not None and not torch.allclose(v.grad, accuracy[k])  # the step itself saw both
    assert not strategy.split.halves[0] and not alpha["edge0"]._backward_hooks  # hooks removed
