"""benchmarks/supernet_ranking.py: the rank correlations by hand, and the tool on tiny search runs with faked
retrainings."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from gasnas.architecture import Architecture
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import CheckpointError, PluginError
from gasnas.reporting import NullReporter

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
EVOLUTION = "strategy={name: evolution, params: {population: 4, sample_size: 2, generations: 2, limit_samples: 8}}"


@pytest.fixture
def ranking(monkeypatch):
    spec = importlib.util.spec_from_file_location("supernet_ranking", BENCHMARKS / "supernet_ranking.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "supernet_ranking", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# -- rank correlations against hand-computed values ------------------------------------------------------------------

def test_average_ranks_share_ties(ranking):
    assert ranking.average_ranks([10, 20, 20, 5, 20]) == [2.0, 4.0, 4.0, 1.0, 4.0]


def test_kendall_tau_b_by_hand(ranking):
    assert ranking.kendall_tau([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert ranking.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # 6 pairs: (1,2) C, (1,3) C, (1,4) C, (2,3) D, (2,4) C, (3,4) C -> (5 - 1) / 6
    assert ranking.kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # ties: x = [1, 2, 2, 3], y = [1, 3, 2, 3]; pairs (0,1) C, (0,2) C, (0,3) C, (1,2) tie in x, (1,3) tie in y,
    # (2,3) C: (4 - 0) / sqrt((6 - 1) (6 - 1)) = 0.8
    assert ranking.kendall_tau([1, 2, 2, 3], [1, 3, 2, 3]) == pytest.approx(0.8)
    assert math.isnan(ranking.kendall_tau([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="different lengths"):
        ranking.kendall_tau([1, 2], [1, 2, 3])


def test_spearman_rho_by_hand(ranking):
    # no ties: 1 - 6 sum d^2 / (n (n^2 - 1)); d = (0, 1, -1, 0) -> 1 - 12 / 60 = 0.8
    assert ranking.spearman_rho([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert ranking.spearman_rho([3, 1, 2], [30, 10, 20]) == pytest.approx(1.0)
    # ties: ranks x = [1, 2.5, 2.5, 4], y = [1, 3.5, 2, 3.5]; centred (-1.5, 0, 0, 1.5) and (-1.5, 1, -0.5, 1);
    # sxy = 2.25 + 1.5 = 3.75, sxx = 4.5, syy = 2.25 + 1 + 0.25 + 1 = 4.5 -> 3.75 / 4.5
    assert ranking.spearman_rho([1, 2, 2, 3], [1, 3, 2, 3]) == pytest.approx(3.75 / 4.5)
    assert math.isnan(ranking.spearman_rho([1, 2, 3], [5, 5, 5]))


def test_permutation_p_is_small_for_a_perfect_ranking_and_large_for_a_reversed_one(ranking):
    x = list(range(8))
    # a perfect ranking of 8 is matched by 1 shuffling in 8! = 40320: p ~ 1 / (permutations + 1)
    assert ranking.permutation_p(x, x, ranking.kendall_tau, 500, seed=0) < 0.01
    assert ranking.permutation_p(x, x[::-1], ranking.spearman_rho, 500, seed=0) == 1.0
    assert ranking.permutation_p(x, x, ranking.kendall_tau, 200, 3) == ranking.permutation_p(
        x, x, ranking.kendall_tau, 200, 3)


def test_only_searched_and_random_architectures_count_as_equal_latency(ranking):
    """all-conv and all-skip lie far from the searched latency: left out of the equal-latency correlation."""
    assert ranking.at_equal_latency("gcn: random; none: random")
    assert ranking.at_equal_latency("evolution: searched; this run's architecture")
    assert ranking.at_equal_latency("this run's architecture")
    assert not ranking.at_equal_latency("gcn: all-conv")
    assert not ranking.at_equal_latency("none: all-skip; gcn: all-skip")
    assert not ranking.at_equal_latency("")


def test_settings_parse_and_refuse(ranking):
    assert ranking.Setting.parse("bn=8,val=all") == ranking.Setting(8, None)
    assert ranking.Setting.parse("val=2,bn=0").label == "bn=0,val=2"
    for bad in ("bn=2", "bn=x,val=2", "bn=2,val=0", "bn=2,val=2,lr=1"):
        with pytest.raises(ValueError, match="scorer setting"):
            ranking.Setting.parse(bad)


# -- end to end --------------------------------------------------------------------------------------------------------

def _fake_quality(folder: Path, archs: list[Architecture], mious: list[list[float]]) -> Path:
    """A search_quality.py output directory: the architecture files and finished retrainings (seed 0, 1...)."""
    (folder / "architectures").mkdir(parents=True)
    for arch, per_seed in zip(archs, mious):
        arch.save(folder / "architectures" / f"{arch.id}.yaml")
        for seed, miou in enumerate(per_seed):
            train = folder / "trains" / f"{arch.id}-s{seed}"
            train.mkdir(parents=True)
            (train / "summary.json").write_text(json.dumps({"last": {"val_miou": miou}}))
    return folder


def test_a_differentiable_run_ranks_the_retrained_architectures(gas_config, ranking, tmp_path, capsys):
    config = load_config(gas_config, ["latency={name: flops}", "latency.target_relative=1.0", "budget.epochs=2",
                                      "communicator=null"])
    result = Engine(config, reporter=NullReporter()).run()
    run = Path(result.best.metadata["run"])
    archs = [Architecture(a.sample, a.space_name, a.space_params, {"run": str(run)}) for a in result.architectures]
    assert len(archs) == 3
    other = Architecture(archs[0].sample, "gas", {"preset": "gas-paper"})  # another space: skipped
    untrained = Architecture({k: ("skip_connect" if "/op_" in k else v) for k, v in archs[0].sample.items()},
                             archs[0].space_name, archs[0].space_params)
    quality = _fake_quality(tmp_path / "quality", [*archs, other, untrained], [[0.30, 0.40], [0.50], [0.20], [0.9], []])
    report_file = tmp_path / "report.json"
    report = ranking.main(["--run", str(run), "--quality", str(quality), "--settings", "bn=2,val=1", "bn=0,val=all",
                           "--permutations", "50", "--json", str(report_file)])
    out = capsys.readouterr().out
    assert f"skipped {other.id}.yaml: space 'gas'" in out
    assert f"skipped {untrained.id}.yaml: no finished retraining" in out
    assert json.loads(report_file.read_text().replace("NaN", "null"))["scores"] == report["scores"]
    assert report["scores"] == ["bn=2,val=1 miou", "bn=2,val=1 -loss", "bn=0,val=all miou", "bn=0,val=all -loss",
                                "log p"]
    rows = {a["id"]: a for a in report["architectures"]}
    assert set(rows) == {a.id for a in archs}
    assert rows[archs[0].id]["retrained"] == pytest.approx(0.35)
    assert rows[archs[0].id]["kind"] == "this run's architecture"
    for arch in result.architectures:  # the exported derivation score, computed anew from the checkpoint
        assert rows[arch.id]["scores"]["log p"] == pytest.approx(arch.metadata["log_probability"], abs=1e-4)
    for row in rows.values():
        assert 0 <= row["scores"]["bn=2,val=1 miou"] <= 1 and row["scores"]["bn=0,val=all -loss"] < 0
    # retrained order: archs[1] (0.50) > archs[0] (0.35) > archs[2] (0.20)
    retrained = [0.35, 0.50, 0.20]
    for name in report["scores"]:
        scores = [rows[a.id]["scores"][name] for a in archs]
        c = report["correlations"][name]
        assert c["n"] == 3
        assert c["tau"] == pytest.approx(ranking.kendall_tau(scores, retrained), nan_ok=True)
        assert c["rho"] == pytest.approx(ranking.spearman_rho(scores, retrained), nan_ok=True)
    assert f"| {archs[1].id} | - | 1 | 0.5000 |" in out
    assert "| log p | 3 |" in out


def test_an_evolution_run_restores_and_reproduces_its_own_scores(gas_config, ranking):
    config = load_config(gas_config, [EVOLUTION, "budget.epochs=3", "latency={name: flops}"])
    result = Engine(config, reporter=NullReporter()).run()
    strategy, ctx = Engine.resume(result.best.metadata["run"], reporter=NullReporter(), device="cpu").restore()
    scorer = ranking.scorer_for(strategy, ctx, ranking.Setting(2, 2))  # the evolution's defaults
    for arch in result.architectures:
        scores = scorer.score(arch.sample)
        assert scores["miou"] == pytest.approx(arch.metadata["val_miou"], abs=1e-4)
        assert scores["loss"] == pytest.approx(arch.metadata["val_loss"], abs=1e-4)


def test_restore_needs_a_checkpoint_and_a_strategy_that_restores(toy_config, tmp_path):
    result = Engine(load_config(toy_config), reporter=NullReporter()).run()
    run = Path(result.best.metadata["run"])
    assert (run / "checkpoint.pt").is_file()  # the toy strategy checkpoints, but implements no restore
    with pytest.raises(PluginError, match="cannot be restored"):
        Engine.resume(run, reporter=NullReporter()).restore()
    (run / "checkpoint.pt").unlink(missing_ok=True)
    (run / "checkpoint.prev.pt").unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Engine.resume(run, reporter=NullReporter()).restore()
