from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from gasnas.architecture import Architecture
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import ConfigError, LatencyError
from gasnas.mutable import Categorical
from gasnas.reporting import NullReporter
from gasnas_plugins.strategies.evolution.evolution import (Candidate, Proposer, RegularizedEvolution, mutate,
                                                           pareto_front, sample_key)

TESTS = Path(__file__).resolve().parents[1]
EVOLUTION = "strategy={name: evolution, params: {population: 4, sample_size: 2, generations: 2, limit_samples: 8}}"


def _search(config: Path, *overrides: str):
    engine = Engine(load_config(config, [EVOLUTION, "budget.epochs=3", "latency.measure=null", *overrides]),
                    reporter=NullReporter())
    return engine, engine.run()


# -- the evolution itself (plain Python) -------------------------------------------------------------------------

CHOICES = {f"x{i}": Categorical([0, 1, 2, 3], label=f"x{i}") for i in range(6)}


def _random(rng: random.Random) -> dict:
    return {label: rng.choice(m.values) for label, m in CHOICES.items()}


def test_pareto_front_keeps_exactly_the_non_dominated():
    cands = [Candidate({"a": i}, lat, score) for i, (lat, score) in
             enumerate([(1, 0.1), (2, 0.5), (2, 0.4), (3, 0.45), (4, 0.7), (5, 0.7), (0.5, 0.05)])]
    front = pareto_front(cands)
    assert [(c.latency, c.score) for c in front] == [(0.5, 0.05), (1, 0.1), (2, 0.5), (4, 0.7)]


def test_mutation_changes_at_least_one_choice_and_stays_in_the_space():
    rng = random.Random(0)
    parent = _random(rng)
    for prob in (0.0, 0.3, 1.0):
        for _ in range(20):
            child = mutate(CHOICES, parent, prob, rng)
            changed = sum(child[k] != parent[k] for k in parent)
            assert changed >= 1 and all(child[k] in CHOICES[k].values for k in child)
            if prob == 1.0:
                assert changed == len(parent)


def test_proposer_respects_the_limit_and_says_when_it_cannot():
    proposer = Proposer(CHOICES, _random, lambda s: float(sum(s.values())), limit=6.0, max_tries=200,
                        mutation_prob=0.2)
    rng = random.Random(1)
    for _ in range(30):
        assert sum(proposer.random(rng).values()) <= 6
        assert sum(proposer.mutant(proposer.random(rng), rng).values()) <= 6
    before = len(proposer.latencies)
    proposer.random(rng, remember=False)
    assert len(proposer.latencies) == before
    proposer.limit = -1.0
    with pytest.raises(LatencyError, match="no random architecture under the latency limit"):
        proposer.random(rng)


def test_regularized_evolution_beats_its_initial_population_and_round_trips():
    proposer = Proposer(CHOICES, _random, lambda s: float(sum(s.values())), limit=12.0, max_tries=200,
                        mutation_prob=0.2)
    calls = []

    def score(sample):  # the more 3s the better; ties broken by fewer 0s
        calls.append(sample_key(sample))
        return sum(v == 3 for v in sample.values()) / 6, sum(v == 0 for v in sample.values())

    evo = RegularizedEvolution(proposer, score, population=8, sample_size=3)
    rng = random.Random(0)
    evo.seed_population(rng)
    initial = evo.best().score
    for _ in range(80):
        evo.cycle(rng)
    assert evo.best().score > initial and len(evo.population) == 8
    assert len(calls) == len(set(calls)) == len(evo.history)  # each architecture is scored once
    assert all(c.latency <= 12 for c in evo.history.values())
    copy = RegularizedEvolution(proposer, score, population=8, sample_size=3)
    copy.load_state_dict(evo.state_dict())
    assert copy.population == evo.population and copy.history == evo.history


def test_batched_scoring_gives_the_one_by_one_result_and_breeds_from_one_population():
    """score_many (an executor's batch) sees the initial population at once and each breed()'s children at once,
    and gives what scoring one by one gives; breeding k children at once is another algorithm (ours), the same
    for any executor."""
    def score(sample):
        return sum(v == 3 for v in sample.values()) / 6, sum(v == 0 for v in sample.values())

    def run(batched: bool, at_once: int):
        proposer = Proposer(CHOICES, _random, lambda s: float(sum(s.values())), limit=12.0, max_tries=200,
                            mutation_prob=0.2)
        batches = []

        def score_many(samples, progress=None):
            batches.append(len(samples))
            for _ in samples:
                if progress is not None:
                    progress()
            return [score(s) for s in samples]

        evo = RegularizedEvolution(proposer, score, population=8, sample_size=3,
                                   score_many=score_many if batched else None)
        rng = random.Random(0)
        ticks = []
        evo.seed_population(rng, lambda: ticks.append(1))
        for _ in range(24 // at_once):
            evo.breed(rng, at_once)
        return evo.state_dict(), batches, len(ticks)

    one_by_one, _, ticks = run(False, 1)
    batched, batches, batched_ticks = run(True, 1)
    assert batched == one_by_one and ticks == batched_ticks == 8
    assert batches[0] == 8 and all(b <= 1 for b in batches[1:])
    by_four, batches, _ = run(True, 4)
    assert len(batches) == 1 + 6 and all(b <= 4 for b in batches[1:]) and max(batches[1:]) == 4
    assert by_four != one_by_one and len(by_four["population"]) == 8


# -- BN recalibration ------------------------------------------------------------------------------------------------

def test_recalibrated_path_evaluates_like_a_batch_statistics_forward(rectangles):
    from gasnas_plugins.spaces.gas.options import GasSpaceOptions
    from gasnas_plugins.spaces.gas.space import GasSearchSpace
    from gasnas_plugins.strategies.evolution.scoring import PathScorer
    from toy_scenes import MeanIoU

    torch.manual_seed(0)
    space = GasSearchSpace(GasSpaceOptions(preset="gas-tiny", cells=2, reductions=(1,), nodes=2, channels=8,
                                           stem_channels=(8, 8, 8), head_channels=8, head="simple"))
    supernet = space.build_supernet(4)
    images = torch.randn(8, 3, 32, 64)
    labels = torch.randint(0, 4, (8, 32, 64))
    scorer = PathScorer(supernet, MeanIoU(), None, torch.device("cpu"), [(images, labels)], [(images, labels)])
    a, b = space.random_sample(random.Random(0)), space.random_sample(random.Random(1))
    mixing = supernet.mixing_for(a)
    with torch.no_grad():
        supernet.train()
        batch_stats = supernet(images, mixing)
        supernet.eval()
        stale = supernet(images, mixing)
        scorer.recalibrate(mixing)
        recalibrated = supernet(images, mixing)
    # one calibration batch: the running statistics become that batch's (up to the unbiased variance's n/(n-1))
    error = (recalibrated - batch_stats).abs().mean() / batch_stats.abs().mean()
    assert error < 0.03 and error < 0.1 * (stale - batch_stats).abs().mean() / batch_stats.abs().mean()

    class Scene:
        num_classes = 4

    scorer.dataset = Scene()
    first = scorer.score(a)
    scorer.score(b)
    assert scorer.score(a) == first  # a score does not depend on what was scored before


# -- the strategy on the gas space ---------------------------------------------------------------------------------

def test_search_writes_the_pareto_set_best_under_the_limit_first(gas_config):
    engine, result = _search(gas_config)
    run = engine.run_dir.path
    archs = result.architectures
    limit = archs[0].metadata["latency_limit"]
    assert all(a.metadata["search_latency"] <= limit for a in archs)
    scores = [a.metadata["val_miou"] for a in archs]
    latencies = [a.metadata["search_latency"] for a in archs]
    assert scores == sorted(scores, reverse=True) and latencies == sorted(latencies, reverse=True)
    assert result.metrics["val_miou"] == pytest.approx(scores[0], abs=1e-4)
    assert result.metrics["pareto_size"] == len(archs)
    front = yaml.safe_load((run / "pareto.yaml").read_text())
    assert [p["id"] for p in front["front"]] == [a.id for a in reversed(archs)]
    assert front["latency_limit"] == limit and front["latency_unit"] == "ms"
    assert (run / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Architecture.load(run / "architecture.yaml").id == archs[0].id
    assert archs[0].metadata["estimated_latency"] == pytest.approx(latencies[0], rel=1e-3)
    engine.space.validate(archs[0].sample)
    epochs = [yaml.safe_load(line) for line in (run / "metrics.jsonl").open()]
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    assert "ce" in epochs[0] and epochs[2]["scored"] >= 4  # one supernet epoch, two of evolution


def test_target_or_option_sets_the_limit_and_under_limit_paths_train(gas_config):
    # counted MACs, not timings: the limit sits 2% above the first search's fastest network, which two
    # separately measured tables could place on either side of it
    flops = "latency={name: flops}"
    _, free = _search(gas_config, flops, "budget.epochs=2", "strategy.params.generations=1")
    fastest = min(a.metadata["search_latency"] for a in free.architectures)
    limit = round(fastest * 1.02, 6)
    _, bounded = _search(gas_config, flops, "budget.epochs=2", "strategy.params.generations=1",
                         f"latency.target={limit}", "strategy.params.path_sampling=under_limit")
    assert bounded.metrics["latency_limit"] == pytest.approx(limit)
    assert all(a.metadata["search_latency"] <= limit for a in bounded.architectures)
    _, option = _search(gas_config, flops, "budget.epochs=2", "strategy.params.generations=1",  # the deprecated name
                        f"strategy.params.latency_limit={limit}", "strategy.params.val_batches=null")
    assert option.metrics["latency_limit"] == pytest.approx(limit)


def test_the_latency_target_is_the_limit_and_the_old_name_cannot_contradict_it(gas_config):
    with pytest.raises(ConfigError, match="strategy.params.latency_limit: deprecated, and a latency target is set"):
        load_config(gas_config, [EVOLUTION, "latency.target_ms=1000", "strategy.params.latency_limit=2"])
    with pytest.raises(ConfigError, match=r"strategy.params.generations: budget.epochs \(2\) must exceed"):
        load_config(gas_config, [EVOLUTION, "budget.epochs=2"])  # at load time: `gasnas config check` says it


def test_budget_and_latency_mistakes_are_explained(gas_config):
    with pytest.raises(ConfigError, match=r"budget.epochs \(2\) must exceed strategy.params.generations \(2\)"):
        _search(gas_config, "budget.epochs=2")
    with pytest.raises(LatencyError, match="needs a 'latency' section"):
        _search(gas_config, "latency=null")
    with pytest.raises(ConfigError, match="sample_size"):
        load_config(gas_config, ["strategy={name: evolution, params: {population: 2, sample_size: 3}}"])


@pytest.mark.slow
def test_whole_network_estimators_work_for_evolution(gas_config):
    _, result = _search(gas_config, "budget.epochs=2", "strategy.params.generations=1",
                        "strategy.params.limit_samples=2",
                        "latency.name=onnxruntime", "latency.params={repeats: 3, warmup: 1}")
    assert result.architectures[0].metadata["estimator"].startswith("onnxruntime")


# -- kill -9 ------------------------------------------------------------------------------------------------------

def _cli(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gasnas.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _kill_after(process: subprocess.Popen, metrics: Path, epochs: int) -> None:
    """SIGKILL ``process`` once ``metrics`` records ``epochs`` epochs (the next one has begun)."""
    deadline = time.time() + 300
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= epochs:
            break
        time.sleep(0.02)
    time.sleep(0.3)
    assert process.poll() is None, "the search ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.slow
def test_kill_9_in_each_phase_then_resume_gives_the_uninterrupted_result(gas_config, tmp_path):
    env = {**os.environ, "GASNAS_PLUGINS": "toy_scenes", "PYTHONPATH": str(TESTS), "GASNAS_DISABLE_PLUGINS": "runs"}
    common = ["--set", EVOLUTION, "--set", "strategy.params.population=6", "--set", "strategy.params.generations=3",
              "--set", "budget.epochs=5", "--set", "latency.measure=null"]
    full = _cli("search", str(gas_config), "--name", "full", *common, env=env)
    out, _ = full.communicate(timeout=600)
    assert full.returncode == 0, out
    run = tmp_path / "runs" / "killed"
    killed = _cli("search", str(gas_config), "--name", "killed", *common, env=env)
    _kill_after(killed, run / "metrics.jsonl", 1)  # in the supernet's second epoch
    resumed = _cli("search", "--resume", str(run), env=env)
    _kill_after(resumed, run / "metrics.jsonl", 3)  # in evolution's second generation
    resumed = _cli("search", "--resume", str(run), env=env)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    for name in ("architecture.yaml", "pareto.yaml"):
        a = yaml.safe_load((tmp_path / "runs" / "full" / name).read_text())
        b = yaml.safe_load((run / name).read_text())
        if name == "architecture.yaml":
            a, b = (a["sample"], a["id"], a["metadata"]["val_miou"]), (b["sample"], b["id"], b["metadata"]["val_miou"])
        assert a == b, name
    epochs = [yaml.safe_load(line)["epoch"] for line in (run / "metrics.jsonl").open()]
    assert epochs == list(range(5))
