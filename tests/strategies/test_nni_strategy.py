"""The ``nni`` strategy: NNI's strategies on gasnas spaces with gasnas data and evaluators; the gas space as an
NNI ModelSpace."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from gasnas.architecture import Architecture
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import CheckpointError, ConfigError, IncompatibleComponentsError
from gasnas.reporting import NullReporter
from gasnas_plugins.nni_support import available
from nni_fixtures import nni_plugins  # noqa: F401 - a fixture

pytestmark = [pytest.mark.nni, pytest.mark.skipif(not available(), reason="needs the nni extra: gasnas[nni]"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning:nni.nas.nn.pytorch.layers")]

#: the test GAS search made smaller still: NNI's trainer adds seconds of its own
SMALL = ["communicator=null", "latency.measure=null", "space.params.cells=2", "space.params.nodes=2",
         "budget.epochs=1", "budget.steps_per_epoch=1", "budget.batch_size=4"]
GAS_OPTIONS = dict(preset="gas-tiny", cells=3, reductions=(1,), nodes=2, channels=8, stem_channels=(8, 8, 8),
                   head_channels=16)


def _search(config: Path, *overrides: str):
    engine = Engine(load_config(config, list(overrides)), reporter=NullReporter())
    return engine, engine.run()


def _nni(config: Path, params: str = "{}", *overrides: str, small: bool = True):
    """A search of ``config`` with the nni strategy and ``params``."""
    return _search(config, "strategy.name=nni", f"strategy.params={params}", *(SMALL if small else ()), *overrides)


def _records(engine) -> list[dict]:
    return [json.loads(line) for line in (engine.run_dir.path / "metrics.jsonl").read_text().splitlines()]


def test_gas_space_as_nni_model_space_has_its_labels_and_networks():
    from nni.nas.nn.pytorch import ModelSpace

    from gasnas_plugins.spaces.gas.model_space import GasModelSpace
    from gasnas_plugins.spaces.gas.options import GasSpaceOptions
    from gasnas_plugins.spaces.gas.space import GasSearchSpace
    from gasnas_plugins.spaces.nni.gas import GasModelSpace as OldPath

    gas = GasSearchSpace(GasSpaceOptions(**GAS_OPTIONS))
    nni_space = gas.nni_model_space(4)  # the space's NNI form (capability nni)
    assert isinstance(nni_space, GasModelSpace) and isinstance(nni_space, ModelSpace)
    assert OldPath is GasModelSpace  # configs and architecture files naming the old path keep working
    simplified = nni_space.simplify()
    assert sorted(simplified) == sorted(gas.choices())
    for label, choice in gas.choices().items():
        assert list(simplified[label].values) == list(choice.values), label
        assert getattr(simplified[label], "n_chosen", None) == getattr(choice, "n_chosen", None), label
    sample = gas.random_sample(random.Random(0))
    a, b = nni_space.freeze(sample).eval(), gas.build(sample, 4).eval()
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    assert a(torch.randn(1, 3, 32, 64)).shape == b(torch.randn(1, 3, 32, 64)).shape == (1, 4, 32, 64)


@pytest.mark.slow
def test_nni_darts_searches_the_gas_space_through_the_wrapper(gas_config, nni_plugins):
    engine, result = _nni(gas_config, "{algorithm: DARTS}")
    (best,) = result.architectures  # NNI's one-shot export: top-1 only
    engine.space.validate(best.sample)
    assert Architecture.load(engine.run_dir.path / "architecture.yaml") == best
    assert best.metadata["nni_strategy"] == "DARTS" and "top-1 only" in best.metadata["nni_export"]
    assert best.metadata["estimated_latency"] > 0
    (record,) = _records(engine)
    assert {"ce", "val_miou", "epoch_time_s", "derived_latency"} <= set(record)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm, note", [("GumbelDARTS", "top-1 only"), ("RandomOneShot", "a random sample")])
def test_other_one_shot_strategies_search_the_gas_space(gas_config, nni_plugins, algorithm, note):
    engine, result = _nni(gas_config, f"{{algorithm: {algorithm}}}")
    engine.space.validate(result.best.sample)
    assert note in result.best.metadata["nni_export"]


@pytest.mark.parametrize("algorithm, kwargs", [("Random", "{}"),
                                               ("RegularizedEvolution", "{population_size: 2, sample_size: 1}")])
def test_multi_trial_strategies_train_and_score_each_trial(toy_config, nni_plugins, algorithm, kwargs):
    """On the toys' sampling-only space: any space that samples and builds works for multi-trial search."""
    engine, result = _nni(toy_config, f"{{algorithm: {algorithm}, trials: 3, top_k: 2, kwargs: {kwargs}}}",
                          "budget.epochs=1", small=False)
    scores = [a.metadata["val_acc"] for a in result.architectures]
    assert len(scores) == 2 and scores == sorted(scores, reverse=True)
    for arch in result.architectures:
        engine.space.validate(arch.sample)
    assert [r["trial"] for r in _records(engine)] == [0, 1, 2]


def test_nni_darts_on_an_nni_space_exports_what_the_users_class_freezes(tmp_path, rectangles, nni_plugins):
    config = tmp_path / "nni.yaml"
    config.write_text(f"""\
output: {tmp_path / 'runs'}
dataset: {{name: rectangles}}
space: {{name: nni, params: {{space: "nni_spaces:AllPrimitives"}}}}
strategy: {{name: nni, params: {{algorithm: DARTS, val_batches: 1}}}}
evaluator: {{name: test-miou}}
budget: {{epochs: 1, batch_size: 4, steps_per_epoch: 1}}
""")
    _, result = _search(config)
    model = __import__("nni_spaces").AllPrimitives().freeze(dict(result.best.sample))
    assert model(torch.randn(1, 3, 32, 64)).shape == (1, 4, 32, 64)


@pytest.mark.slow
def test_nni_penalty_runs_from_gasnas_costs_and_says_it_has_no_effect(gas_config, nni_plugins):
    _, result = _nni(gas_config, "{algorithm: DARTS, penalty: 1.0}", "latency.name=flops", "latency.params={}")
    assert "no effect" in result.best.metadata["nni_penalty"]


def test_nni_penalty_expression_is_the_gasnas_expected_latency(gas_config, nni_plugins):
    from gasnas.api.latency import LatencyEnv
    from gasnas_plugins.latency import FlopsOptions
    from gasnas_plugins.latency.flops import FlopsEstimator
    from gasnas_plugins.spaces.gas.options import GasSpaceOptions
    from gasnas_plugins.spaces.gas.space import GasSearchSpace
    from gasnas_plugins.strategies.nni.penalty import latency_profiler
    from gasnas_plugins.strategies.nni.strategy import NniStrategy

    space = GasSearchSpace(GasSpaceOptions(**GAS_OPTIONS))
    flops = FlopsEstimator(FlopsOptions(), LatencyEnv(num_classes=4))
    shape = (1, 3, 32, 64)
    profiler = latency_profiler(space, flops, shape, 4)
    uniform = {c.key: torch.full((len(c.candidates),), 1.0 / len(c.candidates))
               for c in space.build_supernet(4).relaxed_choices()}
    assert NniStrategy._uniform(profiler) == pytest.approx(float(flops.expected(space, shape)(uniform)), rel=1e-5)


def test_incompatible_cases_are_refused_clearly(toy_config, gas_config, tmp_path, rectangles, nni_plugins):
    with pytest.raises(IncompatibleComponentsError, match="strategy 'nni' needs a search space with nni here "
                                                          r"\(algorithm DARTS: .*space 'tiny' offers sampling"):
        _nni(toy_config, small=False)
    with pytest.raises(IncompatibleComponentsError, match="communicator 'gcn': NNI's strategies have no communicator"):
        _nni(gas_config, small=False)
    with pytest.raises(ConfigError, match="NNI's Random takes no 'populaton'; it takes dedup, seed"):
        _nni(toy_config, "{algorithm: Random, kwargs: {populaton: 3}}", small=False)
    with pytest.raises(ConfigError, match="NNI's RandomOneShot takes no latency penalty"):
        load_config(gas_config, ["strategy.name=nni", "strategy.params={algorithm: RandomOneShot, penalty: 1}"])
    config = tmp_path / "numerical.yaml"
    config.write_text(f"""\
output: {tmp_path / 'runs'}
dataset: {{name: rectangles}}
space: {{name: nni, params: {{space: "nni_spaces:WithNumerical"}}}}
strategy: {{name: nni, params: {{algorithm: DARTS}}}}
evaluator: {{name: test-miou}}
budget: {{epochs: 1, batch_size: 4, steps_per_epoch: 1}}
""")
    with pytest.raises(IncompatibleComponentsError, match="label 'dropout' is a Numerical choice, which NNI's DARTS"):
        _search(config)
    with pytest.raises(IncompatibleComponentsError, match="NNI's DARTS cannot relax search space 'nni': .*sum/mean"):
        _search(config, "space.params.space=nni_spaces:WithConcatInput")
    _, result = _search(config, "strategy.params={algorithm: Random, trials: 2, val_batches: 1}")
    assert 0 <= result.best.sample["dropout"] <= 0.5  # what a relaxed search refuses, sampling searches


def test_nni_searches_do_not_resume(gas_config, nni_plugins):
    engine, _ = _nni(gas_config, "{algorithm: RandomOneShot}")
    with pytest.raises(CheckpointError, match="strategy 'nni' cannot resume"):
        Engine.resume(engine.run_dir.path, reporter=NullReporter()).run()
