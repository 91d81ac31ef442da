"""The ``gasnas latency`` commands. Importing this module imports click only; the work imports torch."""

from __future__ import annotations

import time
from pathlib import Path

import click

from gasnas.api import ConfigError, threads_option
from gasnas_plugins.latency import SAMPLERS

__all__ = ["latency", "parse_shape"]


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1x3x1024x2048"`` -> (1, 3, 1024, 2048)."""
    try:
        shape = tuple(int(p) for p in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1 or shape[1] != 3:
        raise ConfigError(f"--input {text!r}: expected NxCxHxW with C=3, e.g. 1x3x1024x2048")
    return shape


def _setup(config: Path | None, overrides: tuple[str, ...], input_size: str | None, classes: int | None,
           device: str | None, threads: int | None):
    """The space, input shape, class count, device and latency section of a search config; torch computes with
    the threads a search of that config would (so that estimators without threads of their own time the same
    table)."""
    from gasnas.api import default_config_path, load_config
    from gasnas.api import choose_threads, resolve_device
    from gasnas.api import get_plugin_manager

    cfg = load_config(config or default_config_path(), overrides)
    choose_threads(threads, cfg.threads).apply()
    pm = get_plugin_manager()
    space = pm.registry("search spaces").get(cfg.space.name).build(cfg.space.params)
    dataset = None
    if input_size is None or classes is None:
        dataset = pm.registry("datasets").get(cfg.dataset.name).build(cfg.dataset.params)
    shape = parse_shape(input_size) if input_size else (1, 3, *dataset.input_size)
    num_classes = classes if classes is not None else dataset.num_classes
    return cfg, pm, space, shape, num_classes, str(resolve_device(device or cfg.device))


def _estimator(pm, name: str, params, device: str, num_classes: int):
    from gasnas.api.latency import LatencyEnv
    from gasnas.api import RichReporter

    env = LatencyEnv(device=device, num_classes=num_classes, progress=RichReporter().progress)
    return pm.registry("latency estimators").get(name).build(params, env)


def _params_for(cfg, pm, name: str):
    """The config's params when it names this estimator, else the estimator's defaults."""
    if cfg.latency is not None and cfg.latency.name == name:
        return cfg.latency.params
    if cfg.latency is not None and cfg.latency.measure is not None and cfg.latency.measure.name == name:
        return cfg.latency.measure.params
    return pm.registry("latency estimators").get(name).default_options()


_common = [
    click.argument("config", required=False, type=click.Path(path_type=Path)),
    click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value."),
    click.option("--input", "input_size", help="NxCxHxW, e.g. 1x3x1024x2048 (default: the dataset's size)."),
    click.option("--classes", type=click.IntRange(1, 100_000), help="Output classes (default: the dataset's)."),
    click.option("--device", help="auto, cpu, cuda, cuda:N (default: the config's)."),
    threads_option,
]


def _with_common(f):
    for decorator in reversed(_common):
        f = decorator(f)
    return f


@click.group("latency")
def latency() -> None:
    """Latency tables: build them for a device, and check estimators against end-to-end measurements."""


@latency.command("build")
@_with_common
@click.option("--estimator", "name", default=None, help="Block estimator (default: the config's, else lut).")
def build(config, overrides, input_size, classes, device, threads, name) -> None:
    """Measure the lookup table of CONFIG's space (default: the quickstart) for a device and runtime.

    Resumable: blocks already in the table are not measured again.
    """
    from gasnas.api import console, table
    from gasnas.api import LatencyError
    from gasnas_plugins.latency.lut import LookupTableEstimator

    cfg, pm, space, shape, num_classes, device = _setup(config, overrides, input_size, classes, device, threads)
    name = name or (cfg.latency.name if cfg.latency is not None else "lut")
    estimator = _estimator(pm, name, _params_for(cfg, pm, name), device, num_classes)
    if not isinstance(estimator, LookupTableEstimator):
        raise LatencyError(f"latency estimator '{name}' keeps no table to build; use lut")
    before = len(estimator.table.entries)
    start = time.perf_counter()
    estimator.prepare(space, shape)
    terms = space.cost_terms(shape, None, num_classes=num_classes)
    blocks = {b.signature for t in terms for c in t.candidates for b in c}
    console.print(table("latency table", ["", ""], [
        ("space", f"{cfg.space.name} ({space.fingerprint()})"), ("input", "x".join(map(str, shape))),
        ("estimator", estimator.describe()), ("blocks of this space", len(blocks)),
        ("measured now", len(estimator.table.entries) - before), ("table entries", len(estimator.table.entries)),
        ("time", f"{time.perf_counter() - start:.1f} s"), ("file", str(estimator.table.path))]), soft_wrap=True)


@latency.command("check")
@_with_common
@click.option("-n", "--samples", default=50, show_default=True, help="Architectures to evaluate.")
@click.option("--calibration-samples", default=30, show_default=True,
              help="Separate architectures that calibrations are fitted on (0: none).")
@click.option("--estimators", default="lut,flops", show_default=True, help="Comma-separated estimators to check.")
@click.option("--measure", "measure_name", default=None,
              help="Ground truth (default: the config's latency.measure, else onnxruntime).")
@click.option("--repeatability/--no-repeatability", default=True, show_default=True,
              help="Measure the evaluation set twice to report the measurement's own noise.")
@click.option("--rounds", default=1, show_default=True, type=click.IntRange(min=1),
              help="Measure in this many interleaved rounds and keep each architecture's median (a shared "
                   "machine's drift then reaches every architecture alike).")
@click.option("--sampler", type=click.Choice(SAMPLERS), default=SAMPLERS[0], show_default=True,
              help="How architectures are drawn: spread evenly over counted MACs, diverse (each with its own "
                   "preference over operations) or uniform (as the space samples).")
@click.option("--store-calibration", is_flag=True, help="Keep the fitted lut calibration in its table.")
@click.option("--seed", default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Report directory (default: runs/...).")
def check(config, overrides, input_size, classes, device, threads, samples, calibration_samples, estimators,
          measure_name, repeatability, rounds, sampler, store_calibration, seed, output) -> None:
    """Sample architectures, predict their latency with each estimator, measure them end to end, and report
    MAPE, the share within +-10% and Kendall's tau, with a predicted-vs-measured scatter plot.

    The ground truth's own repeatability (measured twice) comes first: when it is below its target, the machine
    cannot rank these architectures, and the verdict says what to change instead of judging the estimator."""
    from rich.markup import escape

    from gasnas.api import RichReporter, console, table
    from gasnas_plugins.latency.check import run_check, write_report
    from gasnas_plugins.latency.verdict import Targets, repeatable

    cfg, pm, space, shape, num_classes, device = _setup(config, overrides, input_size, classes, device, threads)
    if measure_name is None:
        measure_name = cfg.latency.measure.name if cfg.latency is not None and cfg.latency.measure else "onnxruntime"
    names = [n.strip() for n in estimators.split(",") if n.strip()]
    built = {n: _estimator(pm, n, _params_for(cfg, pm, n), device, num_classes) for n in names}
    measure = _estimator(pm, measure_name, _params_for(cfg, pm, measure_name), device, num_classes)
    report = run_check(space, shape, built, measure, n=samples, n_calibration=calibration_samples, seed=seed,
                       repeatability=repeatability, store_calibration=store_calibration, rounds=rounds,
                       sampler=sampler, progress=RichReporter().progress)
    output = output or Path(cfg.output) / f"{time.strftime('%Y%m%d-%H%M%S')}-latency-check"
    files = write_report(report, output)

    def pct(v):
        return "-" if v is None else f"{v:.1f}%"

    rep = report.repeatability
    if rep:  # first: whether the machine can rank these architectures at all
        targets = Targets()
        console.print(table(f"ground truth measured twice ({report.measured_with})",
                            ["MAPE", "within +-10%", "Kendall tau", "target"],
                            [(pct(rep["mape"]), pct(100 * rep["within_10"]), f"{rep['kendall_tau']:.3f}",
                              f">= {targets.truth_within:.0%} and >= {targets.truth_tau:g}: "
                              + ("reached" if repeatable(rep, targets) else "[bold yellow]below[/]"))],
                            caption=f"the measurement's own repeatability, {report.rounds} round(s): it bounds "
                                    f"every estimator below"), soft_wrap=True)
    rows = [(r.estimator, r.variant, r.unit, pct(r.mape), pct(None if r.within_10 is None else 100 * r.within_10),
             f"{r.kendall_tau:.3f}") for r in report.rows]
    console.print(table(f"latency check: {report.n} architectures of {cfg.space.name} at {'x'.join(map(str, shape))}",
                        ["estimator", "variant", "unit", "MAPE", "within +-10%", "Kendall tau"], rows,
                        caption=f"{report.sampler} sample; measured with {report.measured_with}; calibrations "
                                f"fitted on {report.n_calibration} other architectures"))
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    verdict = report.verdict
    colour = {"met": "green", "not met": "red", "cannot rank": "yellow"}.get(verdict["status"], "white")
    console.print(f"[bold {colour}]verdict:[/] {escape(verdict['text'])}", soft_wrap=True)
    for line in verdict["advice"]:
        console.print(f"  - {escape(line)}", soft_wrap=True)
    for key, path in files.items():
        console.print(f"{key}: {path}", soft_wrap=True)
