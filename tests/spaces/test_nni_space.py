"""The ``nni`` space: NNI model spaces searched by gasnas; exports frozen by NNI unchanged."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import torch

from gasnas.architecture import Architecture
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import ConfigError, IncompatibleComponentsError
from gasnas.mutable import SampleValidationError
from gasnas.reporting import NullReporter
from gasnas_plugins.nni_support import available
from gasnas_plugins.spaces.nni import NniSpaceOptions
from nni_fixtures import nni_plugins  # noqa: F401 - a fixture

pytestmark = [pytest.mark.nni, pytest.mark.skipif(not available(), reason="needs the nni extra: gasnas[nni]"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning:nni.nas.nn.pytorch.layers")]

NNI_CONFIG = """\
seed: 0
output: {output}
dataset: {{name: rectangles}}
space: {{name: nni, params: {{space: "nni_spaces:{space}"}}}}
strategy: {{name: differentiable, params: {{warmup_epochs: 0, arch_lr: 0.05, relaxation: softmax, top_k: 2,
                                          val_batches: 1, latency_loss: linear}}}}
latency: {{name: flops}}
evaluator: {{name: test-miou}}
budget: {{epochs: 2, batch_size: 8, steps_per_epoch: 2}}
"""


@pytest.fixture
def nni_config(tmp_path: Path, rectangles, nni_plugins):
    def make(space: str = "AllPrimitives") -> Path:
        path = tmp_path / f"{space}.yaml"
        path.write_text(NNI_CONFIG.format(output=tmp_path / "runs", space=space))
        return path

    return make


def space(name: str = "AllPrimitives", **args):
    from gasnas_plugins.spaces.nni.adapter import NniSearchSpace

    return NniSearchSpace(NniSpaceOptions(space=f"nni_spaces:{name}", args=args))


def _search(config: Path, *overrides: str):
    engine = Engine(load_config(config, list(overrides)), reporter=NullReporter())
    return engine, engine.run()


def test_choices_are_nni_simplify_in_gasnas_names():
    s = space()
    nni_space = __import__("nni_spaces").AllPrimitives()
    assert list(s.choices()) == list(nni_space.simplify())
    kinds = {label: type(c).__name__ for label, c in s.choices().items()}
    assert kinds["op"] == kinds["width"] == kinds["depth"] == kinds["cell/op_2_0"] == "Categorical"
    assert kinds["skip"] == kinds["cell/input_3_1"] == "CategoricalMultiple"
    assert s.choices()["op"].values == ["conv", "sep", "pool"]  # LayerChoice with named candidates: names
    assert s.choices()["block0"].values == [0, 1]  # listed candidates: int indices, as NNI's samples
    assert s.choices()["depth"].values == [1, 2, 3]


def test_nni_form_is_a_new_instance_of_the_users_class():
    s = space()
    model_space = s.nni_model_space(7)  # what NNI's strategies search (capability nni)
    assert type(model_space) is __import__("nni_spaces").AllPrimitives and model_space is not s.space
    assert list(model_space.simplify()) == list(s.choices())
    assert model_space.freeze(s.default_sample())(torch.randn(1, 3, 32, 64)).shape == (1, 7, 32, 64)


def test_random_samples_build_with_nni_freeze_and_run():
    s = space()
    rng = random.Random(0)
    for classes in (4, 7, 19):  # the dataset's class count reaches the space's num_classes
        sample = s.random_sample(rng)
        net = s.build(sample, classes).eval()
        assert net(torch.randn(1, 3, 32, 64)).shape == (1, classes, 32, 64)
        supernet = s.build_supernet(classes)
        assert supernet(torch.randn(1, 3, 32, 64), supernet.mixing_for(sample)).shape == (1, classes, 32, 64)


def test_invalid_samples_name_the_label():
    s = space()
    sample = s.default_sample()
    with pytest.raises(SampleValidationError, match="unknown label 'opp' \\(did you mean 'op'\\?\\)"):
        s.validate({**sample, "opp": "conv"})
    with pytest.raises(SampleValidationError, match="sample\\['op'\\]: 'cnv' is not a choice"):
        s.validate({**sample, "op": "cnv"})
    with pytest.raises(SampleValidationError, match="not in the NNI space"):
        s.validate({k: v for k, v in sample.items() if k != "width"})


def test_one_hot_mixing_computes_the_frozen_network():
    """Where the supernet keeps the space's modules (LayerChoice, Repeat), mixing_for(sample) gives exactly the
    output of NNI's freeze(sample) with the same weights."""
    s = space("Simple")
    nni_space = s.model_space(4)
    before = copy.deepcopy(nni_space)
    from gasnas_plugins.spaces.nni.mixed import MixingState
    from gasnas_plugins.spaces.nni.relax import Relaxer
    from gasnas_plugins.spaces.nni.supernet import NniSupernet

    relaxer = Relaxer(MixingState())
    supernet = NniSupernet(relaxer.relax(nni_space), relaxer).eval()
    x = torch.randn(2, 3, 32, 64)
    for sample in ({"op": "conv5", "depth": 2}, {"op": "pool", "depth": 1}):
        frozen = before.freeze(sample).eval()
        with torch.no_grad():
            assert torch.allclose(supernet(x, supernet.mixing_for(sample)), frozen(x), atol=1e-6)


def test_masked_width_with_one_hot_weights_is_the_narrow_layer():
    from gasnas_plugins.spaces.nni.mixed import MaskedLayer, MixingState, ValueSite

    import nni

    mixing = MixingState()
    layer = torch.nn.Conv2d(3, 12, 3, padding=1)
    masked = MaskedLayer(layer, ValueSite(nni.choice("w", [8, 12]), "test"), 1, mixing)
    narrow = torch.nn.Conv2d(3, 8, 3, padding=1)
    narrow.weight.data, narrow.bias.data = layer.weight.data[:8], layer.bias.data[:8]
    x = torch.randn(1, 3, 8, 8)
    mixing.weights, mixing.active = {"w": torch.tensor([1.0, 0.0])}, {"w": [0]}
    y = masked(x)
    assert torch.allclose(y[:, :8], narrow(x), atol=1e-6) and y[:, 8:].abs().max() == 0


def test_derive_ranks_nni_samples_that_nni_freezes(nni_plugins):
    s = space()
    supernet = s.build_supernet(4)
    gen = torch.Generator().manual_seed(0)
    probs = {c.key: torch.softmax(torch.randn(len(c.candidates), generator=gen), 0)
             for c in supernet.relaxed_choices()}
    derived = supernet.derive(probs, 3)
    scores = [score for _, score in derived]
    assert scores == sorted(scores, reverse=True) and len({str(d) for d, _ in derived}) == 3
    best, _ = derived[0]
    assert best["op"] == ["conv", "sep", "pool"][int(probs["op"].argmax())]
    assert best["cell/input_3_0"] != best["cell/input_3_1"]  # distinct inputs, as DARTS derives
    s.validate(best)
    nni_model = __import__("nni_spaces").AllPrimitives().freeze(best)
    assert nni_model(torch.randn(1, 3, 32, 64)).shape == (1, 4, 32, 64)


def test_canonical_drops_what_a_repeat_depth_or_an_unchosen_candidate_leaves_out():
    s = space()
    sample = {**s.random_sample(random.Random(0)), "depth": 1}
    canonical = s.canonical(sample)
    assert "block0" in canonical and "block1" not in canonical and "block2" not in canonical
    assert canonical["width"] == sample["width"]  # read by active layers too
    assert s.canonical({**sample, "depth": 3}) == {**sample, "depth": 3}
    other = {**sample, "block1": 1 - sample["block1"]}  # differs only in a block depth 1 leaves out
    assert s.canonical(other) == canonical
    torch.manual_seed(0)
    x = torch.randn(1, 3, 32, 64)
    a, b = s.build(sample, 4).eval(), s.build(other, 4).eval()
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(x), b(x))  # the same network indeed


def test_top_k_of_a_space_with_a_repeat_are_different_networks(nni_plugins):
    """Depth 1 most probable and blocks 1-2 undecided: the next samples by score differ only in blocks 1-2,
    which depth 1 leaves out."""
    from gasnas_plugins.strategies.derivation import derive_distinct

    s = space()
    supernet = s.build_supernet(4)
    probs = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates)) for c in supernet.relaxed_choices()}
    for key in probs:  # every choice decided ...
        probs[key] = torch.softmax(torch.linspace(8, 0, len(probs[key])), 0)
    probs["cell/edge_3_0"] = torch.softmax(torch.tensor([0.0, 0, 0, 8]), 0)  # (node 3 reads nodes 1 and 2)
    probs["block1"] = probs["block2"] = torch.tensor([0.55, 0.45])  # ... but blocks 1 and 2
    plain = [d for d, _ in supernet.derive(probs, 3)]
    assert len({repr(sorted(s.canonical(d).items())) for d in plain}) < 3  # one network more than once
    distinct = [d for d, _ in derive_distinct(supernet, s, probs, 3)]
    assert len({repr(sorted(s.canonical(d).items())) for d in distinct}) == 3
    assert distinct[0] == plain[0]


def test_flops_estimate_of_a_sample_is_its_counted_macs():
    from gasnas.api.latency import LatencyEnv
    from gasnas.runtime.macs import count
    from gasnas_plugins.latency import FlopsOptions
    from gasnas_plugins.latency.flops import FlopsEstimator

    s = space("Simple")
    flops = FlopsEstimator(FlopsOptions(), LatencyEnv(num_classes=4))
    shape = (1, 3, 32, 64)
    expected = flops.expected(s, shape)
    supernet = s.build_supernet(4)
    for sample in ({"op": "conv5", "depth": 2}, {"op": "pool", "depth": 1}):
        macs = count(s.build(sample, 4).eval(), (shape,)).macs / 1e9
        assert flops.estimate(s, sample, shape) == pytest.approx(macs, rel=1e-6)
        assert float(expected(supernet.mixing_for(sample))) == pytest.approx(macs, rel=1e-6)


def test_search_with_latency_term_exports_what_nni_freezes(nni_config):
    engine, result = _search(nni_config())
    best = Architecture.load(engine.run_dir.path / "architecture.yaml")
    assert best.space_name == "nni" and best.metadata["estimated_latency"] > 0
    assert best.space_params["space"] == "nni_spaces:AllPrimitives"
    nni_model = __import__("nni_spaces").AllPrimitives().freeze(dict(best.sample))  # the user's own class
    assert nni_model(torch.randn(1, 3, 32, 64)).shape == (1, 4, 32, 64)
    assert "expected_latency_ms" in result.metrics and len(result.architectures) == 2


@pytest.mark.slow
def test_raising_beta_lowers_the_derived_latency_of_an_nni_space(nni_config):
    def derived(beta: float) -> float:
        _, result = _search(nni_config(), f"strategy.params.beta={beta}", "budget.epochs=4")
        return result.best.metadata["estimated_latency"]

    free, constrained = derived(0.0), derived(20.0)
    assert constrained < 0.85 * free, (free, constrained)


@pytest.mark.parametrize("name, message", [
    ("WithNumerical", "label 'dropout' is a Numerical choice"),
    ("WithConcatInput", "InputChoice 'pick' .* reduces with 'concat'"),
    ("WithKernelChoice", "MutableConv2d 'extra' has choices in its arguments \\(kernel_size="),
    ("WithDanglingChoice", "Scaled 'scale' has choices in its arguments"),
])
def test_primitives_a_supernet_cannot_relax_are_refused_before_training(name, message):
    s = space(name)
    s.random_sample(random.Random(0))  # sampling strategies can still search them
    with pytest.raises(IncompatibleComponentsError, match=message):
        s.build_supernet(4)


def test_incompatible_space_fails_the_search_before_any_epoch(nni_config):
    with pytest.raises(IncompatibleComponentsError, match="'dropout' is a Numerical choice"):
        _search(nni_config("WithNumerical"))


def test_config_mistakes_are_config_errors(nni_config):
    with pytest.raises(ConfigError, match="name your NNI ModelSpace class by import path"):
        _search(nni_config(), "space.params={}")
    with pytest.raises(ConfigError, match="is not an import path; write 'package.module:ClassName'"):
        load_config(nni_config(), ["space.params.space=nni_spaces.Simple"])
    with pytest.raises(ConfigError, match="cannot import 'nni_spaces:Nope'"):
        _search(nni_config(), "space.params.space=nni_spaces:Nope")
    with pytest.raises(ConfigError, match="building nni_spaces:Simple.* failed: TypeError"):
        _search(nni_config(), "space.params.space=nni_spaces:Simple", "space.params.args={depth: 3}")


@pytest.mark.parametrize("values, n_chosen, probes", [
    ([3, 5, 7], None, [3, 4, "3", 5.0, True, [3]]),
    (["conv", "pool"], None, ["conv", "cnv", ["conv"], None]),
    ([0, 1, 2], 1, [[0], [2], [3], 0, [0, 1], []]),
    ([0, 1, 2], 2, [[0, 1], [1, 0], [0, 0], [0], [0, 3], (0, 1), "ab"]),
])
def test_gasnas_choices_mean_what_nni_choices_mean(values, n_chosen, probes):
    """gasnas.mutable's Categorical / CategoricalMultiple accept, default and enumerate as NNI's do."""
    import nni.mutable as nm

    from gasnas import mutable as gm

    if n_chosen is None:
        ours, theirs = gm.Categorical(values, label="x"), nm.Categorical(values, label="x")
    else:
        ours, theirs = gm.CategoricalMultiple(values, n_chosen=n_chosen, label="x"), nm.CategoricalMultiple(
            values, n_chosen=n_chosen, label="x")
    assert ours.default() == theirs.default()
    assert ours.grid() == list(theirs.grid())
    def nni_accepts(value) -> bool:
        try:
            return theirs.check_contains({"x": value}) is None
        except TypeError:  # NNI 3.0 raises, rather than reports, on a scalar for a CategoricalMultiple
            return False

    for value in probes:
        assert (ours.check(value) is None) == nni_accepts(value), value


def test_evolution_strategy_searches_an_nni_space_under_a_latency_limit(nni_config):
    engine, result = _search(nni_config(), "strategy.name=evolution", "budget.epochs=3",
                             "strategy.params={generations: 2, population: 3, sample_size: 2, limit_samples: 4, "
                             "val_batches: 1, bn_batches: 1}")
    limit = max(a.metadata["estimated_latency"] for a in result.architectures)
    for arch in result.architectures:
        engine.space.validate(arch.sample)
    nni_model = __import__("nni_spaces").AllPrimitives().freeze(dict(result.best.sample))
    assert nni_model(torch.randn(1, 3, 32, 64)).shape == (1, 4, 32, 64) and limit > 0
