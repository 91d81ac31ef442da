"""PC-DARTS' edge normalisation (the differentiable strategy's ``edge_normalization``): per node a choice of
granularity ``edge`` over its incoming edges, whose softmax weights the edges in the node's sum and whose
log-probabilities enter the derivation's edge scores -- in the gas and dcnas supernets, the GCN communicator, the
strategy's relaxation and metrics, a search with partial channels, its resume, and the clear errors of the spaces
that cannot do it."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gasnas.api.space import supernet_of
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import IncompatibleComponentsError
from gasnas.options import parse_options
from gasnas.reporting import NullReporter
from gasnas_plugins.communicators import GCNOptions
from gasnas_plugins.communicators.gcn import GCNCommunicator
from gasnas_plugins.spaces.dcnas.options import DcnasSpaceOptions
from gasnas_plugins.spaces.dcnas.space import DcnasSearchSpace
from gasnas_plugins.spaces.gas.cells import SearchCell, edge_key, node_key
from gasnas_plugins.spaces.gas.options import OPS, GasSpaceOptions
from gasnas_plugins.spaces.gas.space import GasSearchSpace
from gasnas_plugins.strategies.differentiable import DifferentiableOptions
from gasnas_plugins.strategies.differentiable.strategy import ArchParameters, DifferentiableSearch
from top_k_fixtures import TINY_GAS

# a gas space with three nodes: node 4 has four incoming edges, of which a derivation keeps two
GAS3 = {**TINY_GAS, "nodes": 3}
X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _gas(**params) -> GasSearchSpace:
    return GasSearchSpace(parse_options(GasSpaceOptions, {**GAS3, **params}))


def _dcnas() -> DcnasSearchSpace:
    return DcnasSearchSpace(DcnasSpaceOptions())


def _random_mixing(supernet, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {c.key: F.softmax(torch.randn(len(c.candidates), generator=g), -1) for c in supernet.relaxed_choices()}


def _pair(space):
    """The plain supernet and the edge-normalised one with the same weights (edge normalisation adds none)."""
    torch.manual_seed(0)
    plain = space.build_supernet(3).eval()
    normalised = supernet_of(space, 3, edge_normalization=True).eval()
    normalised.load_state_dict(plain.state_dict())
    return plain, normalised


# -- the supernets --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("space", [_gas, _dcnas], ids=["gas", "dcnas"])
def test_without_the_option_the_supernet_is_the_plain_one(space):
    """Off (the default, and asked for explicitly): the same choices and outputs as a supernet that never heard of
    it; on: the same operation choices plus edge choices, and with every edge weight 1 the plain supernet's output
    and derivations exactly."""
    space = space()
    plain, normalised = _pair(space)
    off = space.build_supernet(3, edge_normalization=False).eval()
    off.load_state_dict(plain.state_dict())
    assert off.relaxed_choices() == plain.relaxed_choices() == supernet_of(space, 3).relaxed_choices()
    assert "edge" not in {c.granularity for c in plain.relaxed_choices()}
    mixing = _random_mixing(plain)
    with torch.no_grad():
        assert torch.equal(off(X, mixing), plain(X, mixing))
    edges = [c for c in normalised.relaxed_choices() if c.granularity == "edge"]
    assert edges and [c for c in normalised.relaxed_choices() if c.granularity != "edge"] == list(
        plain.relaxed_choices())
    ones = {**mixing, **{c.key: torch.ones(len(c.candidates)) for c in edges}}
    with torch.no_grad():
        assert torch.equal(normalised(X, ones), plain(X, mixing))
    assert normalised.derive(ones, 3) == plain.derive(mixing, 3)  # log 1 = 0: nothing added to any score
    assert not torch.equal(normalised(X, _random_mixing(normalised)), plain(X, mixing))  # the weights matter


def test_the_gas_edge_choices_are_one_per_node_over_its_sources_in_its_cell():
    plain = _gas().build_supernet(3)  # the plain supernet: one operation choice per edge, as ever
    assert [(c.key, c.candidates, c.group, c.granularity) for c in plain.relaxed_choices()] == [
        (edge_key(k, i, j), tuple(OPS), f"cell{k}", "op") for k in range(2) for i in (2, 3, 4) for j in range(i)]
    supernet = supernet_of(_gas(), 3, edge_normalization=True)
    edges = {c.key: c for c in supernet.relaxed_choices() if c.granularity == "edge"}
    assert list(edges) == [node_key(k, i) for k in range(2) for i in (2, 3, 4)]
    assert edges["cell1/node_4"].candidates == ("0", "1", "2", "3") and edges["cell1/node_4"].group == "cell1"
    keys = [c.key for c in supernet.relaxed_choices()]  # after the node's own edges
    assert keys.index("cell0/node_3") == keys.index(edge_key(0, 3, 2)) + 1


def test_a_node_is_the_softmax_weighted_sum_of_its_edges():
    torch.manual_seed(0)
    cell = SearchCell(0, 8, 8, 8, 3, False, (1, 1), OPS, edge_normalization=True).eval()
    s0, s1 = torch.randn(2, 8, 8, 8), torch.randn(2, 8, 8, 8)
    mixing = {edge_key(0, i, j): F.softmax(torch.randn(len(OPS)), -1) for i in (2, 3, 4) for j in range(i)}
    mixing.update({node_key(0, i): F.softmax(torch.randn(i) * 3, -1) for i in (2, 3, 4)})
    active = {k: range(len(OPS)) for k in mixing}
    with torch.no_grad():
        states = [cell.pre0(s0), cell.pre1(s1)]
        for i in (2, 3, 4):
            beta = mixing[node_key(0, i)]
            states.append(sum(beta[j] * sum(mixing[edge_key(0, i, j)][o] * op(states[j])
                                            for o, op in enumerate(cell.edges[f"{i}_{j}"].ops)
                                            if OPS[o] != "zero") for j in range(i)))
        assert torch.allclose(cell(s0, s1, mixing, active), cell.project(*states[2:]), atol=1e-6)


@pytest.mark.parametrize("space", [_gas, _dcnas], ids=["gas", "dcnas"])
def test_the_gradient_reaches_the_edge_parameters(space):
    supernet = supernet_of(space(), 3, edge_normalization=True)
    arch = ArchParameters(supernet.relaxed_choices())
    with torch.no_grad():
        for alpha in arch.alpha:
            alpha.normal_()
    mixing = {k: F.softmax(v, -1) for k, v in arch.as_dict().items()}
    F.cross_entropy(supernet(X, mixing), torch.randint(0, 3, (2, 32, 32))).backward()
    for key, alpha in arch.as_dict().items():
        if "/node_" in key:
            assert alpha.grad is not None and float(alpha.grad.abs().sum()) > 0, key


def test_gas_keeps_the_edges_of_larger_weight_when_the_operations_tie():
    plain, normalised = _pair(_gas())
    probs = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates)) for c in normalised.relaxed_choices()}
    probs["cell0/node_4"] = torch.tensor([0.1, 0.4, 0.2, 0.3])
    probs["cell1/node_3"] = torch.tensor([0.5, 0.2, 0.3])
    (best, score), second = normalised.derive(probs, 2)
    assert best["cell0/input_4_0"] == [1] and best["cell0/input_4_1"] == [3]
    assert best["cell1/input_3_0"] == [0] and best["cell1/input_3_1"] == [2]
    (plain_best, _), = plain.derive({k: v for k, v in probs.items() if "/node_" not in k}, 1)
    assert plain_best["cell0/input_4_1"] == [1]  # without edge weights the tie goes to the first edges
    assert normalised.derive(probs, 1) == [(best, score)]  # the argmax agrees with the ranked enumeration
    assert second[1] <= score and score == pytest.approx(_kept_score(normalised, best, probs))


def _kept_score(supernet, sample, probs) -> float:
    """The summed log-probabilities of what ``sample`` keeps: its one-hot mixing against the log-probabilities."""
    mixing = supernet.mixing_for(sample)
    total = 0.0
    for c in supernet.relaxed_choices():
        weights = mixing[c.key].clone()
        if c.zero is not None:
            weights[c.zero] = 0.0
        total += float((weights * torch.log(probs[c.key])).sum())
    return total


def test_dcnas_keeps_the_edge_of_larger_weight_when_the_operations_tie():
    supernet = supernet_of(_dcnas(), 3, edge_normalization=True)
    probs = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates)) for c in supernet.relaxed_choices()}
    probs["layer0/scale0/node_2"] = torch.tensor([0.3, 0.7])
    probs["layer1/scale2/node_2"] = torch.tensor([0.8, 0.2])
    (best, score), = supernet.derive(probs, 1)
    assert best["layer0/scale0/input_2_0"] == [1] and best["layer1/scale2/input_2_0"] == [0]
    assert score == pytest.approx(_kept_score(supernet, best, probs))


@pytest.mark.parametrize("space", [_gas, _dcnas], ids=["gas", "dcnas"])
def test_the_single_path_mixing_computes_the_derived_network_and_derives_it_back(space):
    space = space()
    supernet = supernet_of(space, 3, edge_normalization=True).eval()
    sample = space.random_sample(random.Random(1))
    mixing = supernet.mixing_for(sample)
    assert set(mixing) == {c.key for c in supernet.relaxed_choices()}
    assert supernet.derive(mixing, 1)[0][0] == sample
    net = supernet.extract(sample).eval()
    with torch.no_grad():
        assert torch.allclose(net(X), supernet(X, mixing), atol=1e-5)


# -- the GCN communicator ---------------------------------------------------------------------------------------


def test_the_gcn_relates_the_operation_choices_and_passes_the_edge_choices_through():
    choices = supernet_of(_gas(), 3, edge_normalization=True).relaxed_choices()
    ops = [c for c in choices if c.granularity == "op"]
    torch.manual_seed(0)
    gcn = GCNCommunicator(GCNOptions(propagate="features"), choices)  # widths 8 and 2, 3, 4: no error
    torch.manual_seed(0)
    plain = GCNCommunicator(GCNOptions(propagate="features"), ops)
    alphas = {c.key: torch.randn(len(c.candidates), requires_grad=True) for c in choices}
    out = gcn(alphas)
    assert set(out) == set(alphas)
    for c in choices:
        if c.granularity == "edge":
            assert out[c.key] is alphas[c.key]
    expected = plain({c.key: alphas[c.key] for c in ops})  # edge choices do not enter the graph
    assert all(torch.equal(out[c.key], expected[c.key]) for c in ops)
    assert any(not torch.equal(out[c.key], alphas[c.key]) for c in ops)
    sum(v.sum() for v in out.values()).backward()
    assert all(a.grad is not None for a in alphas.values())


# -- the strategy -------------------------------------------------------------------------------------------------


def _strategy(relaxation: str, **params) -> DifferentiableSearch:
    """A search set up by hand around a tiny edge-normalised gas supernet (no engine)."""
    strategy = DifferentiableSearch(parse_options(DifferentiableOptions, {
        "relaxation": relaxation, "warmup_epochs": 0, "edge_normalization": True, **params}))
    space = _gas(ops=[op for op in OPS if op != "zero"])
    strategy.ctx = SimpleNamespace(device=torch.device("cpu"), budget=SimpleNamespace(epochs=3),
                                   dist=SimpleNamespace(enabled=False))
    strategy.warmup = 0
    strategy.supernet = strategy.model = supernet_of(space, 3, edge_normalization=True)
    choices = strategy.supernet.relaxed_choices()
    strategy.edge_keys = frozenset(c.key for c in choices if c.granularity == "edge")
    strategy.arch = ArchParameters(choices)
    with torch.no_grad():
        for alpha in strategy.arch.alpha:
            alpha.copy_(torch.randn(len(alpha)))
    strategy.communicator = None
    strategy.criterion = nn.CrossEntropyLoss()
    return strategy


@pytest.mark.parametrize("relaxation", ["softmax", "gumbel", "hard_gumbel", "sampled"])
def test_edge_choices_are_mixed_by_their_softmax_under_every_relaxation(relaxation):
    strategy = _strategy(relaxation)
    mixing, probs = strategy.mixing(epoch=1)
    assert set(mixing) == set(probs) == {c.key for c in strategy.supernet.relaxed_choices()}
    for key in strategy.edge_keys:
        assert torch.equal(mixing[key], probs[key])
    if relaxation in ("hard_gumbel", "sampled"):  # the operations stay one-hot
        assert all(int((v != 0).sum()) == 1 for k, v in mixing.items() if k not in strategy.edge_keys)
    strategy.options = parse_options(DifferentiableOptions, {"relaxation": relaxation, "edge_normalization": True})
    strategy.warmup = 2  # a single-path warm-up: one operation per edge, every edge weighted by its softmax
    mixing, probs = strategy.mixing(epoch=0)
    assert all(torch.equal(mixing[k], probs[k]) for k in strategy.edge_keys)


def test_a_sampled_step_gives_the_edge_weights_their_pathwise_gradient():
    strategy = _strategy("sampled", paths=2)
    strategy.split = SimpleNamespace(add=lambda epoch, evidence: None)
    strategy.arch_params = list(strategy.arch.parameters())
    strategy.arch_opt = torch.optim.SGD(strategy.arch_params, lr=0.0)
    strategy._latency = lambda probs: (torch.tensor(0.0), torch.tensor(0.0))
    strategy._after_latency_step = lambda expected: None
    strategy.multiplier = SimpleNamespace(value=0.0)
    strategy.sampled_arch_step(X, torch.randint(0, 3, (2, 32, 32)), epoch=1)
    for key, alpha in strategy.arch.as_dict().items():
        assert alpha.grad is not None and float(alpha.grad.abs().sum()) > 0, key


# -- a search -----------------------------------------------------------------------------------------------------

FAST = ["budget.epochs=3", "budget.steps_per_epoch=2", "latency.name=flops", "latency.params={}",
        "latency.measure=null", "communicator.name=gcn"]
EDGE_NORMALISED = ("strategy.params={partial_channels: 2, edge_normalization: true, relaxation: softmax, "
                   "warmup_epochs: 1, top_k: 2, val_batches: 1}")


def test_a_search_with_partial_channels_and_edge_normalisation_derives_and_resumes(gas_config):
    engine = Engine(load_config(gas_config, [*FAST, EDGE_NORMALISED]), reporter=NullReporter())
    result = engine.run()
    strategy = engine.strategy
    assert {e.groups for cell in strategy.supernet.cells for e in cell.edges.values()} == {2}
    nodes = {k: v for k, v in strategy.arch.as_dict().items() if "/node_" in k}
    assert nodes and strategy.edge_keys == set(nodes)
    assert all(float(v.detach().abs().sum()) > 0 for v in nodes.values())  # the architecture steps trained them
    assert len(result.architectures) == 2
    for arch in result.architectures:
        engine.space.validate(arch.sample)
        assert not any("/node_" in k for k in arch.sample)  # the derived architecture is the plain space's
    assert 0 <= result.metrics["edge_entropy"] <= 1 and 0 <= result.metrics["entropy"] <= 1
    records = [json.loads(line) for line in (engine.run_dir.path / "metrics.jsonl").read_text().splitlines()]
    assert all("edge_entropy" in r and "communication" in r for r in records)

    run_dir = engine.run_dir.path  # the checkpoint holds the edge parameters: a resume from epoch 1 ends alike
    (run_dir / "checkpoint.pt").unlink()
    resumed = Engine.resume(run_dir, reporter=NullReporter())
    assert resumed.checkpoint["epoch"] == 1
    again = resumed.run()
    assert [a.sample for a in again.architectures] == [a.sample for a in result.architectures]
    resumed_nodes = {k: v for k, v in resumed.strategy.arch.as_dict().items() if "/node_" in k}
    assert all(torch.equal(resumed_nodes[k].detach(), v.detach()) for k, v in nodes.items())


def test_a_search_without_the_option_reports_no_edge_entropy(gas_config):
    engine = Engine(load_config(gas_config, [*FAST, "strategy.params={partial_channels: 2, relaxation: softmax, "
                                                   "warmup_epochs: 1, top_k: 1, val_batches: 1}"]),
                    reporter=NullReporter())
    result = engine.run()
    assert "edge_entropy" not in result.metrics and not engine.strategy.edge_keys
    assert all("/node_" not in c.key for c in engine.strategy.supernet.relaxed_choices())


# -- spaces that cannot do it -------------------------------------------------------------------------------------


def test_fasterseg_refuses_edge_normalisation_clearly():
    from gasnas_plugins.spaces.fasterseg.options import FasterSegSpaceOptions
    from gasnas_plugins.spaces.fasterseg.space import FasterSegSearchSpace

    space = FasterSegSearchSpace(FasterSegSpaceOptions())
    with pytest.raises(IncompatibleComponentsError, match=r"search space FasterSegSearchSpace cannot build a "
                                                          r"supernet with edge normalisation \(strategy.params."
                                                          r"edge_normalization: true\): no node of it sums"):
        supernet_of(space, 3, edge_normalization=True)


def test_nni_spaces_refuse_edge_normalisation_clearly():
    from gasnas_plugins.nni_support import available

    if not available():
        pytest.skip("needs the nni extra: gasnas[nni]")
    from gasnas_plugins.spaces.nni import NniSpaceOptions
    from gasnas_plugins.spaces.nni.adapter import NniSearchSpace

    space = NniSearchSpace(NniSpaceOptions(space="nni_spaces:AllPrimitives"))
    with pytest.raises(IncompatibleComponentsError, match=r"edge normalisation \(strategy.params."
                                                          r"edge_normalization: true\): an NNI space's modules"):
        space.build_supernet(3, edge_normalization=True)


class _OldSpace(GasSearchSpace):
    """A third-party space written before the keywords: ``build_supernet(num_classes)`` only."""

    def build_supernet(self, num_classes: int):  # type: ignore[override]
        return super().build_supernet(num_classes)


def test_a_space_without_the_keyword_builds_plain_and_refuses_edge_normalisation_clearly():
    space = _OldSpace(parse_options(GasSpaceOptions, GAS3))
    assert supernet_of(space, 3, edge_normalization=False).relaxed_choices()
    with pytest.raises(IncompatibleComponentsError, match=r"search space _OldSpace cannot build a supernet with "
                                                          r"edge normalisation \(strategy.params.edge_normalization: "
                                                          r"true\): its build_supernet takes no edge_normalization"):
        supernet_of(space, 3, edge_normalization=True)

