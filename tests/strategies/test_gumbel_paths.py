"""GDAS-style hard Gumbel sampling of k paths (``gumbel_paths``): k-hot averaging weights, a straight-through
gradient, and a supernet step that runs (and trains) only the sampled candidates."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gasnas.errors import ConfigError
from gasnas.options import parse_options
from gasnas_plugins.spaces.gas.options import OPS, GasSpaceOptions
from gasnas_plugins.spaces.gas.space import GasSearchSpace
from gasnas_plugins.strategies.differentiable import DifferentiableOptions
from gasnas_plugins.strategies.differentiable.strategy import ArchParameters, DifferentiableSearch, gumbel_top_k
from top_k_fixtures import TINY_GAS


def _strategy(k: int, partial_channels: int = 1) -> DifferentiableSearch:
    """A hard_gumbel search set up by hand around a tiny gas supernet (no engine): what a weight step reads."""
    strategy = DifferentiableSearch(parse_options(DifferentiableOptions, {
        "relaxation": "hard_gumbel", "gumbel_paths": k, "warmup_epochs": 0, "partial_channels": partial_channels}))
    # without zero every edge reaches the loss (a node's edges all "zero" could cut a cell off the head)
    space = GasSearchSpace(parse_options(GasSpaceOptions, {**TINY_GAS, "ops": [op for op in OPS if op != "zero"]}))
    strategy.ctx = SimpleNamespace(device=torch.device("cpu"), budget=SimpleNamespace(epochs=3),
                                   dist=SimpleNamespace(enabled=False))
    strategy.warmup = 0
    strategy.supernet = strategy.model = space.build_supernet(3, partial_channels=partial_channels)
    strategy.arch = ArchParameters(strategy.supernet.relaxed_choices())
    with torch.no_grad():  # a distribution that is not uniform, so that the draws depend on the logits
        for alpha in strategy.arch.alpha:
            alpha.copy_(torch.randn(len(alpha)))
    strategy.communicator = None
    strategy.criterion = nn.CrossEntropyLoss()
    strategy.weight_opt = torch.optim.SGD(strategy.supernet.parameters(), lr=0.01)
    return strategy


def _step(strategy: DifferentiableSearch) -> dict[str, torch.Tensor]:
    """One weight step at a search epoch; returns the mixing it drew."""
    drawn = []
    real = strategy.mixing

    def recording(*args, **kwargs):
        mixing, probs = real(*args, **kwargs)
        drawn.append(mixing)
        return mixing, probs

    strategy.mixing = recording
    images, labels = torch.randn(2, 3, 32, 32), torch.randint(0, 3, (2, 32, 32))
    strategy.weight_step(images, labels, epoch=1)
    (mixing,) = drawn
    return mixing


@pytest.mark.parametrize("k", [1, 2])
def test_a_hard_gumbel_step_trains_only_the_sampled_candidates(k):
    torch.manual_seed(0)
    strategy = _strategy(k)
    mixing = _step(strategy)
    trained = untrained = 0
    for cell in strategy.supernet.cells:
        for name, edge in cell.edges.items():
            i, j = name.split("_")
            weights = mixing[f"cell{cell.index}/edge_{i}_{j}"]
            chosen = {o for o, w in enumerate(weights.tolist()) if w != 0}
            assert len(chosen) == k and torch.allclose(weights[list(chosen)], torch.full((k,), 1 / k))
            for o, op in enumerate(edge.ops):
                for p in op.parameters():
                    if o in chosen:
                        assert p.grad is not None, (name, edge.names[o])
                        trained += 1
                    else:
                        assert p.grad is None, (name, edge.names[o])
                        untrained += 1
    assert trained and untrained  # the test saw both kinds


def test_one_path_is_exactly_torchs_hard_gumbel_softmax():
    strategy = _strategy(1)
    torch.manual_seed(3)
    mixing, _ = strategy.mixing(1)
    torch.manual_seed(3)
    tau = strategy.tau(1)
    expected = {k: F.gumbel_softmax(v, tau=tau, hard=True) for k, v in strategy.logits().items()}
    assert mixing.keys() == expected.keys()
    assert all(torch.equal(mixing[k], expected[k]) for k in mixing)


def test_k_paths_are_the_top_k_of_the_perturbed_logits_with_the_soft_samples_gradient():
    logits = torch.randn(8, requires_grad=True)
    probe = torch.randn(8)
    torch.manual_seed(5)
    hard = gumbel_top_k(logits, 3, tau=0.5)
    (probe * hard).sum().backward()
    straight_through = logits.grad.clone()
    logits.grad = None
    torch.manual_seed(5)  # the same noise: the Gumbel-softmax sample the hard one stands for
    soft = F.gumbel_softmax(logits, tau=0.5, hard=False)
    (probe * soft).sum().backward()
    assert torch.allclose(straight_through, logits.grad)
    assert set(torch.nonzero(hard).flatten().tolist()) == set(torch.topk(soft, 3).indices.tolist())
    assert torch.allclose(hard[hard != 0], torch.full((3,), 1 / 3)) and (hard != 0).sum() == 3


def test_k_is_clamped_to_the_candidates_a_choice_has():
    hard = gumbel_top_k(torch.zeros(2), 5, tau=1.0)
    assert torch.allclose(hard, torch.full((2,), 0.5))


def test_gumbel_paths_is_read_by_hard_gumbel_only():
    with pytest.raises(ConfigError, match="gumbel_paths .* hard_gumbel"):
        parse_options(DifferentiableOptions, {"relaxation": "softmax", "gumbel_paths": 2})
    with pytest.raises(ConfigError, match="gumbel_paths"):
        parse_options(DifferentiableOptions, {"relaxation": "hard_gumbel", "gumbel_paths": 0})
