"""The check's verdict judges the machine first: synthetic measured-twice figures decide it, never a timing."""

from __future__ import annotations

import importlib.util
import random
import re
from pathlib import Path

import pytest

from gasnas.api.latency import LatencyEnv, LatencyEstimator
from gasnas_plugins.latency import FlopsOptions
from gasnas_plugins.latency.check import CheckReport, CheckRow, run_check
from gasnas_plugins.latency.flops import FlopsEstimator
from gasnas_plugins.latency.verdict import CANNOT_RANK, MET, NO_TARGET, NOT_MET, Targets, advice, judge, repeatable
from gasnas_plugins.spaces.gas.options import GasSpaceOptions
from gasnas_plugins.spaces.gas.space import GasSearchSpace

SHAPE = (1, 3, 32, 64)
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
GOOD_TRUTH = {"mape": 0.8, "within_10": 1.0, "kendall_tau": 0.97}
BAD_TRUTH = {"mape": 9.0, "within_10": 0.60, "kendall_tau": 0.50}  # the sitting of issue 18


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_ground_truth_that_does_not_repeat_means_the_machine_cannot_rank():
    conditions = {"threads": 2, "statistic": "median", "clock": "wall"}
    verdict = judge(BAD_TRUTH, {"within_10": 0.28, "kendall_tau": 0.611}, conditions=conditions, rounds=1)
    assert verdict.status == CANNOT_RANK
    assert verdict.text.startswith("this machine cannot rank these architectures at this spread: the ground truth "
                                   "measured twice agreed with itself for 60% within +-10% and a Kendall tau of 0.500")
    assert "NOT met" not in verdict.text
    tips = " | ".join(verdict.advice)
    for tip in ("idle machine", "one thread (now 2)", "statistic=min", "--rounds 5"):
        assert tip in tips, tips
    assert "threads=1" not in " ".join(advice({"threads": 1, "statistic": "min", "clock": "thread"}, rounds=5))
    assert advice({"threads": 1, "statistic": "min", "clock": "thread"}, rounds=5) == (advice(None, rounds=5)[0],)
    assert "clock=auto" in " ".join(advice({"threads": 1, "statistic": "min", "clock": "wall"}))
    assert "--sampler spread" in " ".join(advice(None, sampler="uniform"))


@pytest.mark.parametrize("truth, lut, status", [
    (GOOD_TRUTH, {"within_10": 0.96, "kendall_tau": 0.92}, MET),
    (GOOD_TRUTH, {"within_10": 0.90, "kendall_tau": 0.95}, NOT_MET),
    (GOOD_TRUTH, {"within_10": 1.00, "kendall_tau": 0.89}, NOT_MET),
    ({"mape": 1.0, "within_10": 0.95, "kendall_tau": 0.95}, {"within_10": 0.95, "kendall_tau": 0.90}, MET),  # bounds
    ({"mape": 1.0, "within_10": 0.94, "kendall_tau": 0.99}, {"within_10": 1.0, "kendall_tau": 0.99}, CANNOT_RANK),
    ({"mape": 1.0, "within_10": 1.0, "kendall_tau": 0.949}, {"within_10": 1.0, "kendall_tau": 0.99}, CANNOT_RANK),
    (GOOD_TRUTH, None, NO_TARGET),
])
def test_the_estimator_is_judged_only_where_the_ground_truth_repeats(truth, lut, status):
    verdict = judge(truth, lut)
    assert verdict.status == status, verdict
    if status == NOT_MET:
        assert verdict.text.startswith("target NOT met") and "ground truth repeats to its own targets" in verdict.text
    assert repeatable(truth) == (status != CANNOT_RANK)


def test_without_a_second_measurement_the_verdict_says_it_does_not_know_the_machine():
    verdict = judge(None, {"within_10": 1.0, "kendall_tau": 0.95})
    assert verdict.status == MET and "not measured twice" in verdict.text
    assert judge(None, {"within_10": 0.5, "kendall_tau": 0.5}).status == NOT_MET
    assert Targets().describe() == ("calibrated lut >= 95% within +-10% and tau >= 0.9, wherever the ground truth "
                                    "measured twice reaches >= 95% and tau >= 0.95")


class NoisyMeasure(LatencyEstimator):
    """A ground truth on a machine that cannot tell the architectures apart: +-``noise`` per measurement."""

    def __init__(self, noise: float) -> None:
        super().__init__(None, LatencyEnv(num_classes=4))
        self.noise, self.rng = noise, random.Random(0)

    def estimate(self, space, sample, input_shape) -> float:
        ops = sum(v != "skip_connect" for k, v in sample.items() if "/op_" in k)
        return (1.0 + ops) * (1 + self.rng.uniform(-self.noise, self.noise))

    def timing_options(self) -> dict:
        return {"threads": 1, "statistic": "median", "clock": "wall", "dtype": "fp32", "core": None, "warmup": 1}


@pytest.mark.parametrize("noise, status", [(0.3, CANNOT_RANK), (0.0, NO_TARGET)])
def test_the_check_report_carries_the_verdict(noise, status):
    space = GasSearchSpace(GasSpaceOptions(cells=3, nodes=2, channels=8, stem_channels=(8, 8, 8), reductions=(1,),
                                           head_channels=16))
    flops = FlopsEstimator(FlopsOptions(), LatencyEnv(num_classes=4))
    report = run_check(space, SHAPE, {"flops": flops}, NoisyMeasure(noise), n=12, n_calibration=4,
                       sampler="diverse", rounds=2)
    assert report.verdict["status"] == status
    assert report.conditions == {"threads": 1, "statistic": "median", "clock": "wall", "dtype": "fp32", "core": None}
    assert report.rounds == 2 and report.notes == []
    if status == CANNOT_RANK:
        assert any("--rounds 5" in a for a in report.verdict["advice"])
        assert any("statistic=min" in a for a in report.verdict["advice"])


def _report(repeatability, lut_within, lut_tau) -> CheckReport:
    measured = [1.0, 1.5, 2.0, 2.5]
    rows = [CheckRow("lut", "uncalibrated", "ms", 12.0, 0.2, 0.8, [1.1, 1.7, 2.2, 2.8]),
            CheckRow("lut", "calibrated", "ms", 2.0, lut_within, lut_tau, [1.02, 1.49, 2.05, 2.4]),
            CheckRow("flops", "uncalibrated", "GMACs", None, None, 0.8, [1, 2, 3, 4]),
            CheckRow("flops", "calibrated", "ms", 4.0, 0.9, 0.8, [1.05, 1.4, 2.1, 2.3])]
    report = CheckReport("s", (1, 3, 8, 8), "onnxruntime CPUExecutionProvider", 4, 3, measured, rows, repeatability,
                         {}, 0.0, rounds=1, conditions={"threads": 1, "statistic": "median", "clock": "wall"})
    report.verdict = judge(repeatability, {"within_10": lut_within, "kendall_tau": lut_tau},
                           conditions=report.conditions).to_dict()
    return report


def test_latency_check_prints_the_ground_truth_first_and_says_when_the_machine_cannot_rank(gas_config, cli, tmp_path,
                                                                                            monkeypatch):
    import gasnas_plugins.latency.check as check

    monkeypatch.setattr(check, "run_check", lambda *a, **k: _report(BAD_TRUTH, 0.28, 0.611))
    result = cli("latency", "check", str(gas_config), "-o", str(tmp_path / "bad"))
    assert result.exit_code == 0, result.output
    text = " ".join(re.sub(r"[│┃|─━┏┓┗┛┡┩└┘┌┐╇]", " ", result.output).split())
    assert text.index("ground truth measured twice") < text.index("latency check: 4 architectures")
    assert "60.0% 0.500 >= 95% and >= 0.95: below" in text
    assert "verdict: this machine cannot rank these architectures at this spread" in text
    assert "NOT met" not in text and "--rounds 5" in text and "statistic=min" in text

    monkeypatch.setattr(check, "run_check", lambda *a, **k: _report(GOOD_TRUTH, 0.96, 0.93))
    result = cli("latency", "check", str(gas_config), "-o", str(tmp_path / "good"))
    text = " ".join(re.sub(r"[│┃|─━┏┓┗┛┡┩└┘┌┐╇]", " ", result.output).split())
    assert result.exit_code == 0 and ">= 95% and >= 0.95: reached" in text
    assert "verdict: target met: calibrated lut 96% within +-10%, tau 0.930" in text


def test_the_fidelity_benchmark_puts_the_ground_truth_first_and_does_not_judge_an_unrankable_machine():
    fidelity = _script("latency_fidelity")
    bad = _report(BAD_TRUTH, 0.28, 0.611).to_dict()
    rows = fidelity.rows_of("spread", bad, Targets())
    assert rows[0][1:] == ("ground truth measured twice", "9.0%", "60%", "0.500", "below: cannot rank")
    assert rows[2][1] == "lut calibrated" and rows[2][-1] == "not judged"
    good = _report(GOOD_TRUTH, 0.90, 0.93).to_dict()
    rows = fidelity.rows_of("spread", good, Targets())
    assert rows[0][-1] == "reached" and rows[2][-1] == "NOT met"
    assert fidelity.rows_of("spread", _report(GOOD_TRUTH, 1.0, 0.93).to_dict(), Targets())[2][-1] == "met"


def test_the_statistics_benchmark_ranks_alternatives_by_their_measured_twice_repeatability():
    statistics = _script("latency_statistics")
    truth = [1.0 + 0.1 * i for i in range(20)]
    rng = random.Random(0)

    def measurement():  # thread CPU time steady; the wall clock adds other processes' time to a third of the calls
        return [{"thread": tuple(t * (1 + 0.002 * rng.random()) for _ in range(9)),
                 "wall": tuple(t * (1 + (3.0 if rng.random() < 0.33 else 0.0)) for _ in range(9))} for t in truth]

    rows = statistics.compare({"blocked": [measurement(), measurement()]}, ["min", "median", "mean"])
    assert len(rows) == 6 and {r["alternative"] for r in rows} == {"blocked"}
    figures = {(r["clock"], r["statistic"]): r for r in rows}
    steady = [("thread", "min"), ("thread", "median"), ("thread", "mean"), ("wall", "min")]  # min: the undisturbed
    for key in steady:
        assert figures[key]["within_10"] == 1.0 and figures[key]["kendall_tau"] == pytest.approx(1.0), key
    for key in (("wall", "median"), ("wall", "mean")):
        assert figures[key]["within_10"] < 1.0 and figures[key]["kendall_tau"] < 1.0, figures[key]
    assert {(r["clock"], r["statistic"]) for r in rows[:4]} == set(steady)  # best first
    assert figures["thread", "min"]["mean_ms"] == pytest.approx(sum(truth) / len(truth), rel=0.01)


def test_the_statistics_benchmark_reads_every_call_by_both_clocks():
    """The rounds run (tiny networks, a few calls; what they measure decides nothing here)."""
    import torch

    from gasnas.api import export_onnx

    statistics = _script("latency_statistics")
    shape = (1, 3, 8, 8)
    models = [export_onnx(torch.nn.Conv2d(3, c, 1).eval(), shape) for c in (2, 4, 8)]
    for calls in (statistics.blocked_round(models, shape, [2, 0, 1], warmup=1, repeats=3, core=None),
                  statistics.interleaved_round(models, shape, random.Random(0), warmup=1, repeats=3)):
        assert len(calls) == 3 and all(len(c["wall"]) == len(c["thread"]) == 3 for c in calls)
    rows = statistics.compare({"interleaved": [calls, calls]}, ["min", "median"])
    assert len(rows) == 4 and all(r["within_10"] == 1.0 and r["mape"] == 0.0 for r in rows)
