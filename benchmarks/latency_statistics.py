"""Which CPU timing is repeatable on this machine: every statistic, clock, pinning and call order side by side.

    python benchmarks/latency_statistics.py [-n 50] [--repeats 100] [--warmup 10] [--core N] [--json out.json]

Takes the quickstart's architectures as ``gasnas latency check`` does (``gas-tiny`` at 128 x 256, the ``spread``
sample), exports each once, and measures every one twice in ONNX Runtime on one CPU thread -- the ground truth's
"measured twice" -- in one run, so that every alternative meets the same machine:

- **blocked** calls, as the estimators time with ``calls: blocked`` (a fresh session per measurement, ``warmup``
  untimed calls, then ``repeats`` timed calls), once free and once pinned to ``--core``
  (``os.sched_setaffinity``): four rounds (first and second measurement x free and pinned), each over the
  architectures in a fresh random order, the rounds themselves alternating;
- **interleaved** calls (``calls: interleaved``, the estimators' default): one session per architecture, then
  ``repeats`` sweeps of one call each over all of them in a fresh order, so every architecture's calls are spread
  over the whole round (twice: first and second).

Every timed call is read by the wall clock and the thread's CPU time at once, so each measurement yields every
statistic (min, p10, p25, median, mean) of both clocks. For each alternative the table gives the measured-twice
repeatability: MAPE, share within +-10% and Kendall tau between the first and the second measurement -- the
figures ``gasnas latency check`` reports first and the estimators' targets depend on (>= 95% and >= 0.95). Best
first. About 2-3 minutes on one core with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

CLOCKS = ("wall", "thread")


def repeatability(first: Sequence[float], second: Sequence[float]) -> dict[str, float]:
    """The second measurement against the first: MAPE (%), share within +-10% (0-1), Kendall tau."""
    from gasnas_plugins.latency.fidelity import kendall_tau, mape, within

    return {"mape": mape(second, first), "within_10": within(second, first), "kendall_tau": kendall_tau(second, first)}


def compare(measurements: Mapping[str, Sequence[Mapping[str, Sequence[float]]]],
            statistics: Sequence[str]) -> list[dict]:
    """One row per (alternative, clock, statistic): ``measurements[alternative]`` is [first, second], each a list
    over the architectures of ``{clock: timed calls in ms}``. Rows sorted best first (within, then tau)."""
    from gasnas.runtime.timing import statistic_of

    rows = []
    for alternative, (first, second) in measurements.items():
        for clock in CLOCKS:
            if not all(clock in calls for calls in (*first, *second)):
                continue
            for statistic in statistics:
                a = [statistic_of(calls[clock], statistic) for calls in first]
                b = [statistic_of(calls[clock], statistic) for calls in second]
                rows.append({"alternative": alternative, "clock": clock, "statistic": statistic,
                             "mean_ms": sum(a) / len(a), **repeatability(a, b)})
    return sorted(rows, key=lambda r: (-r["within_10"], -r["kendall_tau"], r["mape"]))


def quickstart(n: int, seed: int):
    """The quickstart's space, input shape, class count and ``n`` spread architectures (as latency check draws)."""
    from gasnas.api import default_config_path, get_plugin_manager, load_config
    from gasnas_plugins.latency.check import sample_architectures

    cfg = load_config(default_config_path(), ())
    pm = get_plugin_manager()
    space = pm.registry("search spaces").get(cfg.space.name).build(cfg.space.params)
    dataset = pm.registry("datasets").get(cfg.dataset.name).build(cfg.dataset.params)
    shape = (1, 3, *dataset.input_size)
    return space, shape, dataset.num_classes, sample_architectures(space, shape, "spread", n, seed)


def blocked_round(models: Sequence[bytes], shape, order: Sequence[int], warmup: int, repeats: int,
                  core: int | None) -> list[dict[str, tuple[float, ...]]]:
    """Each model timed alone (the estimators' ``calls: blocked``), in ``order``; the calls by clock, in the
    models' order."""
    from gasnas.runtime.timing import time_onnxruntime

    out: list[dict] = [{}] * len(models)
    for i in order:
        timing = time_onnxruntime(models[i], shape, warmup=warmup, repeats=repeats, threads=1, core=core)
        out[i] = dict(timing.samples)
    return out


def interleaved_round(models: Sequence[bytes], shape, rng: random.Random, warmup: int,
                      repeats: int) -> list[dict[str, tuple[float, ...]]]:
    """One session per model; ``repeats`` sweeps of one call each over all models in a fresh order (as the
    estimators' ``calls: interleaved`` time them)."""
    from gasnas.runtime.timing import time_onnxruntime_many

    timings = time_onnxruntime_many(models, [shape] * len(models), warmup=warmup, repeats=repeats, threads=1,
                                    seed=rng.randrange(2**32))
    return [dict(timing.samples) for timing in timings]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="architectures (the evaluation set of latency check)")
    parser.add_argument("--repeats", type=int, default=100, help="timed calls per measurement (the quickstart's)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls before them")
    parser.add_argument("--core", type=int, default=None,
                        help="core for the pinned rounds (default: the last this process may use)")
    parser.add_argument("--statistics", default="min,p10,p25,median,mean")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    import torch

    from gasnas.api import export_onnx
    from gasnas.console import console, table

    torch.set_num_threads(1)
    started, load = time.perf_counter(), os.getloadavg()[0]
    core = args.core if args.core is not None else max(os.sched_getaffinity(0))
    def say(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {text}", file=sys.stderr, flush=True)

    space, shape, classes, samples = quickstart(args.n, args.seed)
    models = [export_onnx(space.build(s, classes).eval(), shape) for s in samples]
    say(f"exported {len(models)} architectures")
    rng = random.Random(args.seed)
    plan = [(m, pin) for m in (0, 1) for pin in (None, core)]
    rng.shuffle(plan)  # which round comes first is not what decides an alternative's figures
    blocked: dict[tuple[int, int | None], list] = {}
    for m, pin in plan:
        order = list(range(len(models)))
        rng.shuffle(order)
        blocked[m, pin] = blocked_round(models, shape, order, args.warmup, args.repeats, pin)
        say(f"blocked round done (measurement {m + 1}, {'pinned to core %d' % pin if pin is not None else 'free'})")
    interleaved = []
    for m in (0, 1):
        interleaved.append(interleaved_round(models, shape, rng, args.warmup, args.repeats))
        say(f"interleaved round done (measurement {m + 1})")
    measurements = {"blocked": [blocked[0, None], blocked[1, None]],
                    f"pinned {core}": [blocked[0, core], blocked[1, core]],
                    "interleaved": interleaved}
    rows = compare(measurements, args.statistics.split(","))
    seconds = time.perf_counter() - started
    console.print(table(
        f"measured twice, {len(models)} quickstart architectures at {'x'.join(map(str, shape))}, ONNX Runtime CPU, "
        f"1 thread, {args.repeats} timed calls after {args.warmup}",
        ["calls", "clock", "statistic", "mean ms", "MAPE", "within 10%", "tau"],
        [(r["alternative"], r["clock"], r["statistic"], f"{r['mean_ms']:.3f}", f"{r['mape']:.2f}%",
          f"{100 * r['within_10']:.0f}%", f"{r['kendall_tau']:.3f}") for r in rows],
        caption=f"calls: blocked (each alone), pinned (blocked on one core) or interleaved (the estimators' default); "
                f"best first; the ground truth's target: >= 95% within +-10% and tau >= 0.95; {seconds:.0f} s; "
                f"load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f}"))
    if args.json:
        args.json.write_text(json.dumps({"n": len(models), "repeats": args.repeats, "warmup": args.warmup,
                                         "core": core, "seconds": seconds, "load_before": load,
                                         "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
