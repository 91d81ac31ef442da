from __future__ import annotations

import pytest
import torch

from gasnas.api.space import RelaxedChoice
from gasnas.errors import IncompatibleComponentsError
from gasnas_plugins.communicators import GCNOptions
from gasnas_plugins.communicators.gcn import GCNCommunicator, NoCommunication


def _choices(cells=3, edges=5, ops=8):
    return [RelaxedChoice(f"cell{k}/edge_{e}", tuple(f"op{o}" for o in range(ops)), f"cell{k}")
            for k in range(cells) for e in range(edges)]


@pytest.mark.parametrize("nodes", ["entries", "edges"])
@pytest.mark.parametrize("previous", ["original", "communicated"])
def test_gcn_updates_each_cell_from_its_predecessor(nodes, previous):
    torch.manual_seed(0)
    choices = _choices()
    gcn = GCNCommunicator(GCNOptions(nodes=nodes, previous=previous, learn_gamma=True), choices)
    alphas = {c.key: torch.randn(8, requires_grad=True) for c in choices}
    out = gcn(alphas)
    assert set(out) == set(alphas) and all(out[k].shape == (8,) for k in out)
    assert any(not torch.allclose(out[k], alphas[k]) for k in out)
    sum(v.pow(2).sum() for v in out.values()).backward()
    assert all(a.grad is not None for a in alphas.values())
    assert gcn.phi.weight.grad is not None and gcn.weight.weight.grad is not None and gcn.gamma.grad is not None


def test_cell_k_reads_cell_k_minus_1_but_not_k_plus_1():
    torch.manual_seed(0)
    choices = _choices()
    gcn = GCNCommunicator(GCNOptions(), choices)
    alphas = {c.key: torch.randn(8) for c in choices}
    base = gcn(alphas)
    changed = dict(alphas)
    for e in range(5):
        changed[f"cell0/edge_{e}"] = alphas[f"cell0/edge_{e}"] + 3.0
    after = gcn(changed)
    assert not torch.allclose(after["cell1/edge_0"], base["cell1/edge_0"])  # k-1 -> k
    assert torch.allclose(after["cell2/edge_0"], base["cell2/edge_0"])  # no reach beyond the neighbour


def test_gamma_zero_is_the_identity_and_none_communicates_nothing():
    choices = _choices()
    alphas = {c.key: torch.randn(8) for c in choices}
    out = GCNCommunicator(GCNOptions(gamma=0.0), choices)(alphas)
    assert all(torch.equal(out[k], alphas[k]) for k in alphas)
    assert NoCommunication(None, choices)(alphas) == alphas


def test_cells_of_different_shape_are_a_clear_error():
    choices = _choices(cells=1, edges=5) + [RelaxedChoice("cell1/edge_0", ("a", "b"), "cell1")]
    with pytest.raises(IncompatibleComponentsError, match="use communicator 'none'"):
        GCNCommunicator(GCNOptions(), choices)


def test_the_default_carries_logits_alone_so_a_zero_alpha_gets_no_shared_preference():
    """With the identity features carried, W turns them into one op preference that every cell gets alike: at a
    zero alpha every cell k >= 1 receives the same nonzero update. Carrying the logits alone, it receives none."""
    torch.manual_seed(0)
    choices = _choices()
    zeros = {c.key: torch.zeros(8) for c in choices}
    carried = GCNCommunicator(GCNOptions(), choices)(zeros)
    assert all(torch.equal(v, torch.zeros(8)) for v in carried.values())
    shared = GCNCommunicator(GCNOptions(propagate="features"), choices)(zeros)
    assert not torch.allclose(shared["cell1/edge_0"], torch.zeros(8))
    assert torch.allclose(shared["cell1/edge_0"], shared["cell2/edge_0"])  # one preference for every cell


def test_the_communication_metric_is_the_relative_change_of_alpha():
    from gasnas_plugins.strategies.differentiable.strategy import communication

    alphas = {"a": torch.tensor([3.0, 0.0]), "b": torch.tensor([0.0, 4.0])}
    assert communication(alphas, alphas) == 0.0
    assert communication(alphas, {"a": torch.tensor([3.0, 5.0]), "b": alphas["b"]}) == pytest.approx(1.0)
    zeros = {"a": torch.zeros(2)}
    assert communication(zeros, {"a": torch.ones(2)}) == 0.0  # nothing to change yet
