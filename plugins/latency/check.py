"""``gasnas latency check``: predicted against measured latency over sampled architectures.

Architectures are sampled (``spread`` by default: evenly over the range of counted MACs, see
:func:`~gasnas_plugins.latency.fidelity.spread_samples`; or ``diverse`` or ``uniform``) into a calibration set and a
disjoint evaluation set. Every architecture is measured end to end (the ground truth,
``onnxruntime`` by default), the evaluation set twice for the measurement's own repeatability. Each estimator
predicts the evaluation set; block estimators are reported as they are and calibrated (a per-group linear
correction fitted on the calibration set only). The verdict (:mod:`~gasnas_plugins.latency.verdict`) judges the
machine first: when the ground truth does not repeat, it says so instead of judging the estimator.
"""

from __future__ import annotations

import json
import logging
import random
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from gasnas.api.latency import LatencyEstimator
from gasnas.api.space import SearchSpace
from gasnas_plugins.latency.block import BlockEstimator
from gasnas_plugins.latency import SAMPLERS
from gasnas_plugins.latency.fidelity import (diverse_samples, fit_calibration, kendall_tau, mape, spread_samples,
                                             uniform_samples, within)
from gasnas_plugins.latency.lut import LookupTableEstimator
from gasnas_plugins.latency.verdict import Targets, judge

__all__ = ["CheckRow", "CheckReport", "run_check", "chart_rows", "draw_scatter", "timing_conditions",
           "unlike_conditions"]

log = logging.getLogger(__name__)

#: what makes two timings measure the same quantity (warm-up and repeats only change how well; interleaved calls
#: meet caches other networks' calls have just used)
CONDITIONS = ("threads", "dtype", "statistic", "clock", "core", "calls")


@dataclass
class CheckRow:
    """One estimator (variant) against the measurements of the evaluation set."""

    estimator: str
    variant: str
    unit: str
    mape: float | None
    within_10: float | None
    kendall_tau: float
    predictions: list[float] = field(repr=False, default_factory=list)


@dataclass
class CheckReport:
    space: str
    input_shape: tuple[int, ...]
    measured_with: str
    n: int
    n_calibration: int
    measured: list[float]
    rows: list[CheckRow]
    repeatability: dict[str, float] | None
    calibrations: dict[str, dict[str, Any]]
    seconds: float
    sampler: str = "spread"
    architectures: list[dict[str, Any]] = field(default_factory=list)
    rounds: int = 1
    #: how the ground truth timed (threads, dtype, statistic, clock, core), when it times
    conditions: dict[str, Any] | None = None
    #: e.g. a table timed otherwise than the ground truth
    notes: list[str] = field(default_factory=list)
    #: :class:`~gasnas_plugins.latency.verdict.Verdict` as a dict: status, text, advice
    verdict: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def timing_conditions(estimator: LatencyEstimator) -> dict[str, Any] | None:
    """How ``estimator`` times (:data:`CONDITIONS`), or None for one that does not time."""
    options = getattr(estimator, "timing_options", None)
    if options is None:
        return None
    how = dict(options())
    if getattr(estimator.options, "calls", None) is not None:
        how["calls"] = estimator.options.calls
    return {k: v for k, v in how.items() if k in CONDITIONS}


def unlike_conditions(name: str, estimator: LatencyEstimator, measure: LatencyEstimator) -> str | None:
    """A note when the table of ``estimator`` was timed otherwise than the ground truth it is calibrated against."""
    mine, truth = timing_conditions(estimator), timing_conditions(measure)
    if mine is None or truth is None or mine == truth:
        return None
    diff = ", ".join(f"{k} {mine[k]!r} against {truth[k]!r}" for k in CONDITIONS if mine.get(k) != truth.get(k))
    return (f"{name} is timed otherwise than the ground truth ({diff}): its calibration compares unlike "
            f"measurements; give both the same latency.params and latency.measure.params")


def _progress(progress: Callable | None, total: int, text: str):
    return progress(total, text) if progress else nullcontext(None)


def _measure(measure: LatencyEstimator, space: SearchSpace, samples: Sequence[Mapping[str, Any]],
             input_shape: tuple[int, ...], progress: Callable | None, text: str) -> list[float]:
    with _progress(progress, len(samples), text) as task:
        return [float(ms) for ms in measure.estimate_many(space, samples, input_shape,
                                                          advance=task.advance if task is not None else None)]


def measure_round(measure: LatencyEstimator, space: SearchSpace, samples: Sequence[Mapping[str, Any]],
                  input_shape: tuple[int, ...], rng: random.Random, progress: Callable | None = None,
                  text: str = "measuring") -> list[float]:
    """One measurement of each sample, taken in a fresh random order (no architecture keeps its place in a
    drift of the machine's speed), returned in the samples' order."""
    order = list(range(len(samples)))
    rng.shuffle(order)
    times = _measure(measure, space, [samples[i] for i in order], input_shape, progress, text)
    out = [0.0] * len(samples)
    for i, t in zip(order, times):
        out[i] = t
    return out


def measure_interleaved(measure: LatencyEstimator, space: SearchSpace, samples: Sequence[Mapping[str, Any]],
                        input_shape: tuple[int, ...], rounds: int = 3, seed: int = 0,
                        progress: Callable | None = None) -> list[float]:
    """Per-sample medians over ``rounds`` interleaved rounds of :func:`measure_round`."""
    rng = random.Random(seed)
    runs = [measure_round(measure, space, samples, input_shape, rng, progress, f"measuring, round {r + 1}/{rounds}")
            for r in range(rounds)]
    return [median(values) for values in zip(*runs)]


def _measure_interleaved(measure: LatencyEstimator, space: SearchSpace, calibration_set: Sequence[Mapping[str, Any]],
                         evaluation_set: Sequence[Mapping[str, Any]], input_shape: tuple[int, ...], rounds: int,
                         repeatability: bool, seed: int, progress: Callable | None
                         ) -> tuple[list[float], list[float], list[float] | None]:
    """Per-architecture medians over ``rounds`` interleaved rounds (see :func:`run_check`)."""
    rng = random.Random(seed)

    def shuffled_round(samples: Sequence[Mapping[str, Any]], text: str) -> list[float]:
        return measure_round(measure, space, samples, input_shape, rng, progress, text)

    both = [*calibration_set, *evaluation_set]
    first: list[list[float]] = []
    second: list[list[float]] = []
    for r in range(rounds):
        first.append(shuffled_round(both, f"measuring, round {r + 1}/{rounds}"))
        if repeatability:
            second.append(shuffled_round(evaluation_set, f"measuring again, round {r + 1}/{rounds}"))
    medians = [median(values) for values in zip(*first)]
    again = [median(values) for values in zip(*second)] if repeatability else None
    return medians[:len(calibration_set)], medians[len(calibration_set):], again


def sample_architectures(space: SearchSpace, input_shape: tuple[int, ...], sampler: str, n: int,
                         seed: int) -> list[dict[str, Any]]:
    """``n`` distinct architectures by one of :data:`~gasnas_plugins.latency.SAMPLERS`."""
    if sampler == "uniform":
        return uniform_samples(space, n, seed)
    if sampler == "diverse":
        return diverse_samples(space, n, seed)
    if sampler == "spread":
        from gasnas_plugins.latency.flops import FlopsEstimator

        macs = FlopsEstimator()
        return spread_samples(space, n, seed, lambda s: macs.estimate(space, s, input_shape))
    raise ValueError(f"unknown sampler {sampler!r}; expected one of {', '.join(SAMPLERS)}")


def _row(name: str, variant: str, unit: str, predicted: list[float], measured: list[float]) -> CheckRow:
    in_ms = unit == "ms"
    return CheckRow(name, variant, unit, mape(predicted, measured) if in_ms else None,
                    within(predicted, measured) if in_ms else None, kendall_tau(predicted, measured), predicted)


def run_check(space: SearchSpace, input_shape: tuple[int, ...], estimators: Mapping[str, LatencyEstimator],
              measure: LatencyEstimator, *, n: int = 50, n_calibration: int = 30, seed: int = 0,
              repeatability: bool = True, store_calibration: bool = False, rounds: int = 1,
              sampler: str = "spread", progress: Callable | None = None, targets: Targets = Targets()
              ) -> CheckReport:
    """Sample, measure, predict and compare (see the module docstring).

    ``rounds`` > 1 measures in interleaved rounds: each round times every architecture once, in a fresh random
    order, and an
    architecture's latency is its median over the rounds. A shared machine's speed drifts over minutes; measured
    one after another, neighbouring architectures share a machine state and distant ones do not, which scrambles
    their ranking. Interleaving gives every architecture every state. With ``repeatability``, the evaluation set
    gets ``rounds`` more rounds, alternating with the first ones, for the independent second measurement.
    The verdict judges the calibrated ``lut`` against ``targets`` only where the measurement repeats to its own.
    """
    started = time.perf_counter()
    notes = [note for name, e in estimators.items()
             if isinstance(e, BlockEstimator) and (note := unlike_conditions(name, e, measure)) is not None]
    for note in notes:
        log.warning("%s", note)
    samples = sample_architectures(space, input_shape, sampler, n + n_calibration, seed)
    calibration_set, evaluation_set = samples[:n_calibration], samples[n_calibration:]
    for estimator in estimators.values():
        if isinstance(estimator, BlockEstimator):
            estimator.prepare(space, input_shape)
    if rounds <= 1:
        cal_measured = _measure(measure, space, calibration_set, input_shape, progress,
                                "measuring (calibration set)")
        measured = _measure(measure, space, evaluation_set, input_shape, progress, "measuring (evaluation set)")
        again = _measure(measure, space, evaluation_set, input_shape, progress,
                         "measuring again (repeatability)") if repeatability else None
    else:
        cal_measured, measured, again = _measure_interleaved(measure, space, calibration_set, evaluation_set,
                                                             input_shape, rounds, repeatability, seed, progress)
    rows: list[CheckRow] = []
    calibrations: dict[str, dict[str, Any]] = {}
    for name, estimator in estimators.items():
        if not isinstance(estimator, BlockEstimator):
            rows.append(_row(name, "as is", estimator.unit,
                             estimator.estimate_many(space, evaluation_set, input_shape), measured))
            continue
        features = [estimator.group_costs(space, s, input_shape) for s in evaluation_set]
        rows.append(_row(name, "uncalibrated", estimator.unit, [sum(f.values()) for f in features], measured))
        if n_calibration >= 3:
            cal_features = [estimator.group_costs(space, s, input_shape) for s in calibration_set]
            calibration, info = fit_calibration(cal_features, cal_measured)
            predicted = [calibration.intercept + sum(calibration.scale(g) * v for g, v in f.items()) for f in features]
            rows.append(_row(name, "calibrated", "ms", predicted, measured))
            calibrations[name] = {"intercept": calibration.intercept, "scales": dict(calibration.scales), **info}
            if store_calibration and isinstance(estimator, LookupTableEstimator):
                estimator.store_calibration(space, input_shape, calibration, fitted_on=len(calibration_set),
                                            measured_with=measure.describe(), loo_mape=info["loo_mape"])
    rep = None
    if again is not None:
        rep = {"mape": mape(again, measured), "within_10": within(again, measured),
               "kendall_tau": kendall_tau(again, measured)}
    report = CheckReport(space.fingerprint(), tuple(input_shape), measure.describe(), len(evaluation_set),
                         len(calibration_set), measured, rows, rep, calibrations, time.perf_counter() - started,
                         sampler, [dict(s) for s in evaluation_set], rounds, timing_conditions(measure), notes)
    lut = next((r for r in rows if r.variant == "calibrated" and r.unit == "ms"
                and isinstance(estimators.get(r.estimator), LookupTableEstimator)), None)
    report.verdict = judge(rep, None if lut is None else {"within_10": lut.within_10, "kendall_tau": lut.kendall_tau},
                           targets, report.conditions, rounds, sampler).to_dict()
    return report


def chart_rows(report: CheckReport, reach: float = 1.3) -> list[tuple[str, list[tuple[float, float]]]]:
    """Each ms estimator's legend label and (measured, predicted) points within ``reach`` x the measured range.

    An estimator far off (e.g. another runtime) would squeeze everything else into a corner: its points beyond
    the reach are left out and counted in its label instead.
    """
    lo, hi = min(report.measured) / reach, max(report.measured) * reach
    rows = []
    for row in report.rows:
        if row.unit != "ms":
            continue
        inside = [(m, p) for m, p in zip(report.measured, row.predictions) if lo <= p <= hi]
        label = f"{row.estimator} {row.variant}: MAPE {row.mape:.1f}%, tau {row.kendall_tau:.2f}"
        if len(inside) < len(row.predictions):
            label += f" ({len(row.predictions) - len(inside)} off the chart)"
        rows.append((label, inside))
    return rows


def draw_scatter(report: CheckReport, path: Path) -> Path:
    """Predicted against measured ms, one marker style per estimator, with the +-10% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    measured = report.measured
    shown_lo, shown_hi = min(measured), max(measured)
    for label, points in chart_rows(report):
        ax.scatter([m for m, _ in points], [p for _, p in points], s=14, alpha=0.75, label=label)
        if points:
            shown_lo = min(shown_lo, *(p for _, p in points))
            shown_hi = max(shown_hi, *(p for _, p in points))
    pad = (shown_hi - shown_lo) * 0.05
    line = [shown_lo - pad, shown_hi + pad]
    ax.plot(line, line, color="black", lw=0.8)
    ax.fill_between(line, [v * 0.9 for v in line], [v * 1.1 for v in line], color="grey", alpha=0.15,
                    label="+-10%")
    ax.set_xlim(*line)
    ax.set_ylim(*line)
    ax.set_xlabel("\n".join(textwrap.wrap(f"measured ms ({report.measured_with})", 80)), fontsize=7)
    ax.set_ylabel("predicted ms")
    ax.set_title(f"{report.space} at {'x'.join(map(str, report.input_shape))}, {report.n} architectures "
                 f"({report.sampler})", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(report: CheckReport, directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(report.to_dict(), indent=1))
    return {"report": directory / "report.json", "scatter": draw_scatter(report, directory / "scatter.png")}
