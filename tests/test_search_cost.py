"""The search-cost benchmark (benchmarks/search_cost.py): phase 1 runs each case in its own process and reports a
ratio per case, tiny, on the CPU; its rounds and figures follow from what the cases return. No speed is asserted:
the figures belong to the benchmark."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from gasnas.errors import ConfigError
from gasnas_plugins.nni_support import available

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def search_cost(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # it imports the benchmarks it builds on by name
    spec = importlib.util.spec_from_file_location("search_cost", BENCHMARKS / "search_cost.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "search_cost", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.nni
@pytest.mark.skipif(not available(), reason="needs the nni extra: gasnas[nni]")
def test_quick_cost_gives_every_case_its_own_process_figures_and_a_ratio_to_nni_darts(search_cost, tmp_path,
                                                                                        capsys):
    out = tmp_path / "cost.json"
    results = search_cost.main(["--quick", "--cases", "sampled", "nni-darts", "--epochs", "2", "--steps", "1",
                                "--rounds", "1", "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(results, default=str))
    cost = results["cost"]
    assert list(cost["cases"]) == ["sampled", "nni-darts"]
    for name, figures in cost["cases"].items():
        assert "error" not in figures, (name, figures)
        assert len(figures["rounds"]) == 1 and len(figures["rounds"][0]["cpu_s"]) == 2, name  # epochs timed
        for key in ("epoch_cpu_s", "epoch_wall_s", "peak_mib", "cpu_ratio", "wall_ratio"):
            assert figures[key] > 0, (name, key)
        assert figures["epoch_cpu_s"] == figures["rounds"][0]["cpu_s"][1]  # the first epoch is left out
    assert cost["cases"]["nni-darts"]["cpu_ratio"] == 1.0
    assert cost["cases"]["sampled"]["cpu_ratio"] == pytest.approx(
        cost["cases"]["sampled"]["epoch_cpu_s"] / cost["cases"]["nni-darts"]["epoch_cpu_s"])
    assert "strategy.params.warmup_epochs=0" in cost["overrides"]["sampled"]  # every timed epoch searches
    assert "communicator=null" in cost["overrides"]["nni-darts"]
    assert not any("warmup" in o for o in cost["overrides"]["nni-darts"])
    table = capsys.readouterr().out
    for name in ("sampled", "nni-darts"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {name} |"))
        assert f"{cost['cases'][name]['cpu_ratio']:.2f}" in row, row


def test_rounds_rotate_the_cases_and_a_failed_case_is_reported_without_a_ratio(search_cost, monkeypatch, capsys):
    names = {search_cost.slug(n): n for n in ("softmax", "hard_gumbel k=2", "nni-darts")}
    epochs = {"softmax": [9.0, 3.0, 5.0], "hard_gumbel k=2": [], "nni-darts": [8.0, 1.0, 1.0]}
    order = []

    def fake_run_case(config, overrides, device, threads, result):
        name = names[result.stem.rsplit("-", 1)[0]]
        order.append(name)
        if name == "hard_gumbel k=2":
            return {"error": "RuntimeError: out of memory"}
        extra = 4.0 * (len(order) > 3)  # the second round is slower: the median spans both
        times = [t + extra for t in epochs[name]]
        return {"cpu_s": times, "wall_s": [2 * t for t in times], "peak_mib": 100.0 + len(order)}

    monkeypatch.setattr(search_cost, "run_case", fake_run_case)
    results = search_cost.main(["--quick", "--cases", "softmax", "hard_gumbel k=2", "nni-darts", "--rounds", "2"])
    assert order == ["softmax", "hard_gumbel k=2", "nni-darts", "hard_gumbel k=2", "nni-darts", "softmax"]
    cases = results["cost"]["cases"]
    assert cases["softmax"]["epoch_cpu_s"] == 6.0  # median of 3, 5, 7, 9: first epochs left out
    assert cases["nni-darts"]["epoch_cpu_s"] == 3.0 and cases["nni-darts"]["epoch_wall_s"] == 6.0
    assert cases["softmax"]["cpu_ratio"] == 2.0 and cases["softmax"]["wall_ratio"] == 2.0
    assert cases["softmax"]["peak_mib"] == 106.0  # the larger of its two processes
    assert cases["hard_gumbel k=2"]["error"] == "RuntimeError: out of memory"
    assert "cpu_ratio" not in cases["hard_gumbel k=2"]
    assert "| hard_gumbel k=2 | failed: RuntimeError: out of memory |" in capsys.readouterr().out


def test_bad_arguments_are_named(search_cost, capsys):
    with pytest.raises(SystemExit):
        search_cost.main(["--cases", "softmax", "sampled"])  # the baseline, nni-darts, is not among them
    assert "--baseline nni-darts is not among --cases (softmax, sampled)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        search_cost.main(["--cases", "sofmax"])
    assert "invalid choice: 'sofmax'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        search_cost.main(["--rounds", "0"])
    assert "--rounds must be at least 1, got 0" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="strategy.name is 'evolution'; the cases are options of the "
                                          "differentiable strategy"):
        search_cost.main(["--set", "strategy={name: evolution}", "--cases", "softmax", "--baseline", "softmax"])
    with pytest.raises(ConfigError, match="strategy.params.*'relaxaton'"):  # an override, checked before any run
        search_cost.main(["--set", "strategy.params.relaxaton=softmax", "--cases", "softmax", "--baseline",
                          "softmax"])


def test_quality_gives_the_time_to_a_passing_verdict_and_its_ratio_to_the_baseline(search_cost, monkeypatch,
                                                                                   capsys, tmp_path):
    from retraining import Network

    seconds = {"softmax": 100.0, "hard_gumbel": 50.0, "nni-darts": 400.0}
    searched = {"softmax": 0.60, "hard_gumbel": 0.40, "nni-darts": 0.70}  # hard_gumbel: below the random median
    sample = {"c/op_1": "conv_3x3", "c/op_2": "conv_3x3", "c/op_3": "skip_connect"}
    searches = []

    def fake_search(config, out, name, overrides, log):
        searches.append((name, overrides))
        return name, seconds[{search_cost.slug(n): n for n in seconds}[name]]

    def fake_networks_of(runs, randoms, tolerance, folder):
        rows = {}
        for case in runs:
            kinds = [("searched", searched[case]), ("all-conv", 0.55), ("all-skip", 0.2), ("random", 0.45),
                     ("random", 0.50)]
            rows[case] = [Network(f"{case}: {kind} {i}", kind, sample, 1.0, case, arch_file=folder / f"{case}{i}")
                          for i, (kind, _) in enumerate(kinds)]
            for n, (_, miou) in zip(rows[case], kinds):
                n.miou = {0: miou - 0.01, 1: miou, 2: miou + 0.01}
        return rows

    def fake_measure(networks, run, rounds):
        for n in networks:
            n.measured = 2.0 if n.kind == "all-conv" else 1.0  # slower but less accurate: no one dominates

    monkeypatch.setattr(search_cost, "run_case", lambda *a: {"cpu_s": [1.0], "wall_s": [1.0], "peak_mib": 1.0})
    monkeypatch.setattr(search_cost, "search", fake_search)
    monkeypatch.setattr(search_cost, "networks_of", fake_networks_of)
    monkeypatch.setattr(search_cost, "retrain_all", lambda *a, **k: None)
    monkeypatch.setattr(search_cost, "measure", fake_measure)
    out = tmp_path / "cost.json"
    results = search_cost.main(["--quick", "--cases", *seconds, "--rounds", "1", "--quality", "--out",
                                str(tmp_path / "quality"), "--json", str(out)])
    assert [name for name, _ in searches] == ["softmax", "hard_gumbel", "nni-darts"]  # one at a time, in order
    assert all("seed=0" in overrides for _, overrides in searches)
    report = results["quality"]
    assert {name: r["passed"] for name, r in report.items()} == {"softmax": True, "hard_gumbel": False,
                                                                 "nni-darts": True}
    assert report["softmax"]["time_to_pass_s"] == 100.0 and report["softmax"]["time_to_pass_ratio"] == 0.25
    assert report["hard_gumbel"]["time_to_pass_s"] is None and report["hard_gumbel"]["time_to_pass_ratio"] is None
    assert report["nni-darts"]["time_to_pass_ratio"] == 1.0
    assert report["hard_gumbel"]["verdict"]["random_median"] == pytest.approx(0.475)
    assert json.loads(out.read_text())["quality"]["softmax"]["search_s"] == 100.0
    printed = capsys.readouterr().out
    assert "| softmax | 100 | PASS | 0.600 | 0.475 | 100 | 0.25 |" in printed
    assert "| hard_gumbel | 50 | FAIL | 0.400 | 0.475 | n/a | n/a |" in printed
    assert "least time to a passing verdict: softmax (100 s, 0.25 of nni-darts's" in printed
