from __future__ import annotations

import json
import random

import numpy as np
import pytest

from gasnas.api.latency import LatencyEnv, LatencyEstimator
from gasnas_plugins.latency import FlopsOptions, LUTOptions, WholeNetworkOptions
from gasnas_plugins.latency.check import run_check, write_report
from gasnas_plugins.latency.check import sample_architectures
from gasnas_plugins.latency.fidelity import (diverse_samples, fit_calibration, kendall_tau, mape, spread_samples,
                                             within)
from gasnas_plugins.latency.flops import FlopsEstimator
from gasnas_plugins.latency.lut import LookupTableEstimator, calibration_key
from gasnas_plugins.latency.whole import OnnxRuntimeEstimator
from gasnas_plugins.spaces.gas.space import GasSearchSpace

SHAPE = (1, 3, 32, 64)


def test_metrics():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert mape([110, 90], [100, 100]) == pytest.approx(10.0)
    assert within([109, 89, 100], [100, 100, 100]) == pytest.approx(2 / 3)


def test_calibration_recovers_a_linear_truth():
    rng = np.random.default_rng(0)
    features = [{"stem": 1.0, "cell0": float(a), "cell1": float(b)} for a, b in rng.uniform(0.5, 2.0, (30, 2))]
    truth = [0.3 + 0.8 * f["stem"] + 0.5 * f["cell0"] + 1.5 * f["cell1"] for f in features]
    calibration, info = fit_calibration(features, truth)
    predicted = [calibration.intercept + sum(calibration.scale(g) * v for g, v in f.items()) for f in features]
    assert mape(predicted, truth) < 1.0 and info["loo_mape"] < 2.0
    assert calibration.scale("cell1") == pytest.approx(1.5, abs=0.05)


def test_diverse_samples_are_distinct_valid_and_spread(space):
    samples = diverse_samples(space, 20, seed=0)
    assert len({repr(sorted(s.items())) for s in samples}) == 20
    for s in samples:
        space.validate(s)
    space = GasSearchSpace()  # gas-tiny: 30 operations per architecture, where uniform samples all look alike
    samples = diverse_samples(space, 20, seed=0)
    flops = FlopsEstimator(FlopsOptions(), LatencyEnv(num_classes=4))
    diverse = [flops.estimate(space, s, SHAPE) for s in samples]
    uniform = [flops.estimate(space, space.random_sample(random.Random(i)), SHAPE) for i in range(20)]
    assert np.std(diverse) > np.std(uniform)
    assert diverse_samples(space, 5, seed=3) == diverse_samples(space, 5, seed=3)


def test_spread_samples_cover_the_proxy_range_evenly():
    space = GasSearchSpace()
    flops = FlopsEstimator(FlopsOptions(), LatencyEnv(num_classes=4))

    def macs(s):
        return flops.estimate(space, s, SHAPE)

    spread = spread_samples(space, 20, seed=0, proxy=macs)
    diverse = diverse_samples(space, 20, seed=0)
    assert len({repr(sorted(s.items())) for s in spread}) == 20
    for samples in (spread, diverse):
        for s in samples:
            space.validate(s)

    def largest_gap(samples):  # of the sorted costs, relative to their range
        costs = sorted(map(macs, samples))
        return max(b - a for a, b in zip(costs, costs[1:])) / (costs[-1] - costs[0])

    assert largest_gap(spread) < largest_gap(diverse)
    assert largest_gap(spread) < 0.25  # 20 evenly spaced targets are 1/20 apart; the pool thins at the ends
    # shuffled: the first half (a calibration set) reaches both ends of the range
    first = sorted(map(macs, spread[:10]))
    everything = sorted(map(macs, spread))
    assert first[0] < everything[5] and first[-1] > everything[-6]
    assert spread_samples(space, 5, seed=3, proxy=macs) == spread_samples(space, 5, seed=3, proxy=macs)


@pytest.mark.parametrize("sampler", ["spread", "diverse", "uniform"])
def test_every_sampler_gives_distinct_valid_architectures(space, sampler):
    samples = sample_architectures(space, SHAPE, sampler, 12, seed=1)
    assert len({repr(sorted(s.items())) for s in samples}) == 12
    for s in samples:
        space.validate(s)


def test_unknown_sampler_is_a_clear_error(space):
    with pytest.raises(ValueError, match="unknown sampler 'random'.*spread, diverse, uniform"):
        sample_architectures(space, SHAPE, "random", 3, seed=0)


def test_flops_counts_blocks_and_is_differentiable(space):
    import torch

    flops = FlopsEstimator(FlopsOptions(), LatencyEnv(num_classes=4))
    sample = space.random_sample(random.Random(0))
    gmacs = flops.estimate(space, sample, SHAPE)
    from gasnas.runtime.macs import count

    whole = count(space.build(sample, 4), SHAPE)
    assert gmacs == pytest.approx(whole.macs / 1e9, rel=0.02)  # blocks add up to the network (+ node sums)
    assert flops.params(space, sample, SHAPE) == whole.params
    expected = flops.expected(space, SHAPE)
    probs = {k: torch.full((8,), 1 / 8, requires_grad=True) for k in expected.keys}
    expected(probs).backward()
    assert all(p.grad.abs().sum() > 0 for p in probs.values())


def test_check_reports_every_estimator_and_stores_the_calibration(space, tmp_path):
    env = LatencyEnv(num_classes=4)
    fast = dict(warmup=1, repeats=3)
    lut = LookupTableEstimator(LUTOptions(table=str(tmp_path / "t.json"), **fast), env)
    report = run_check(space, SHAPE, {"lut": lut, "flops": FlopsEstimator(FlopsOptions(), env)},
                       OnnxRuntimeEstimator(WholeNetworkOptions(**fast), env), n=6, n_calibration=5,
                       store_calibration=True)
    variants = [(r.estimator, r.variant) for r in report.rows]
    assert variants == [("lut", "uncalibrated"), ("lut", "calibrated"), ("flops", "uncalibrated"),
                        ("flops", "calibrated")]
    assert report.rows[2].mape is None and report.rows[2].unit == "GMACs"
    assert len(report.measured) == 6 and set(report.repeatability) == {"mape", "within_10", "kendall_tau"}
    stored = json.loads((tmp_path / "t.json").read_text())["calibrations"]
    assert calibration_key(space, SHAPE, 4) in stored
    assert lut.calibration(space, SHAPE) is not None
    files = write_report(report, tmp_path / "report")
    assert files["scatter"].stat().st_size > 5000 and json.loads(files["report"].read_text())["n"] == 6


def test_cli_build_and_check(gas_config, cli, tmp_path):
    built = cli("latency", "build", str(gas_config), "--set", "latency.params.repeats=3")
    assert built.exit_code == 0, built.output
    assert "measured now" in built.output
    again = cli("latency", "build", str(gas_config), "--set", "latency.params.repeats=3")
    assert again.exit_code == 0 and "│ measured now         │ 0" in again.output
    checked = cli("latency", "check", str(gas_config), "-n", "4", "--calibration-samples", "3", "--no-repeatability",
                  "--set", "latency.params.repeats=3", "--set", "latency.measure.params.repeats=3",
                  "-o", str(tmp_path / "check"))
    assert checked.exit_code == 0, checked.output
    assert "Kendall tau" in checked.output and (tmp_path / "check" / "scatter.png").is_file()
    assert "spread sample" in checked.output
    report = json.loads((tmp_path / "check" / "report.json").read_text())
    assert report["sampler"] == "spread" and len(report["architectures"]) == 4
    uniform = cli("latency", "check", str(gas_config), "-n", "3", "--calibration-samples", "0", "--no-repeatability",
                  "--sampler", "uniform", "--estimators", "flops", "--set", "latency.measure.params.repeats=2",
                  "-o", str(tmp_path / "uniform"))
    assert uniform.exit_code == 0 and "uniform sample" in uniform.output, uniform.output
    unknown = cli("latency", "check", str(gas_config), "--sampler", "random")
    assert unknown.exit_code == 2 and "'random' is not one of" in unknown.output
    bad = cli("latency", "build", str(gas_config), "--input", "1x3x32")
    assert bad.exit_code == 2 and "expected NxCxHxW" in bad.output
    wrong = cli("latency", "build", str(gas_config), "--estimator", "onnxruntime")
    assert wrong.exit_code == 2 and "keeps no table" in wrong.output


class DriftingMeasure(LatencyEstimator):
    """A ground truth on a shared machine whose speed swings slowly (period: 16 calls, +-``drift``)."""

    unit = "ms"

    def __init__(self, drift: float) -> None:
        super().__init__(None, LatencyEnv(num_classes=4))
        self.drift, self.calls = drift, 0

    @staticmethod
    def truth(sample) -> float:
        return 1.0 + sum(v != "skip_connect" for k, v in sample.items() if "/op_" in k)

    def estimate(self, space, sample, input_shape) -> float:
        self.calls += 1
        import math

        return self.truth(sample) * (1 + self.drift * math.sin(2 * math.pi * self.calls / 16))

    def describe(self) -> str:
        return "drifting"


def test_interleaved_rounds_take_a_drift_out_of_the_ranking(space):
    def tau_to_truth(rounds: int) -> tuple[float, int]:
        measure = DriftingMeasure(drift=0.1)
        report = run_check(space, SHAPE, {}, measure, n=20, n_calibration=0, rounds=rounds, repeatability=False,
                           sampler="diverse")
        truth = [DriftingMeasure.truth(s) for s in report.architectures]
        return kendall_tau(report.measured, truth), measure.calls

    sequential, calls_1 = tau_to_truth(1)
    interleaved, calls_9 = tau_to_truth(9)
    assert calls_1 == 20 and calls_9 == 180
    assert interleaved > sequential + 0.05, (sequential, interleaved)


def test_interleaved_rounds_give_the_repeatability_its_own_rounds(space):
    measure = DriftingMeasure(drift=0.0)
    report = run_check(space, SHAPE, {}, measure, n=6, n_calibration=3, rounds=3)
    assert measure.calls == 3 * (9 + 6)
    assert report.repeatability["mape"] == 0 and len(report.measured) == 6


def test_scatter_keeps_an_estimator_far_off_out_of_the_chart(tmp_path):
    from gasnas_plugins.latency.check import CheckReport, CheckRow, chart_rows, draw_scatter

    measured = [1.0, 1.5, 2.0, 2.5]
    rows = [CheckRow("lut", "calibrated", "ms", 2.0, 1.0, 1.0, [1.02, 1.49, 2.05, 2.4]),
            CheckRow("torch", "as is", "ms", 400.0, 0.0, 0.3, [5.0, 9.0, 3.0, 8.0])]
    report = CheckReport("s", (1, 3, 8, 8), "truth", 4, 0, measured, rows, None, {}, 0.0)
    (lut_label, lut_points), (torch_label, torch_points) = chart_rows(report)
    assert len(lut_points) == 4 and "off the chart" not in lut_label
    assert torch_points == [(2.0, 3.0)]  # within 1.3 x the largest measurement (3.25 ms); the rest left out
    assert torch_label.endswith("(3 off the chart)")
    path = draw_scatter(report, tmp_path / "s.png")
    assert path.stat().st_size > 5000
