"""The latency estimators' fidelity on this machine's CPU (docs/latency.md): first whether the machine can rank
the architectures at all, then whether the targets are met.

    python benchmarks/latency_fidelity.py [--samplers spread,diverse,uniform] [--threads 1] [--rounds 1]
        [--statistic min] [--clock auto] [--repeats 100] [--fresh-table] [-n 50] [--json out.json]

Runs ``gasnas latency check`` on the quickstart (``gas-tiny`` at 128 x 256, ONNX Runtime CPU provider; the table
and the ground truth with the same threads, repeats, statistic and clock) once per sampler, 30 calibration and 50
evaluation architectures each, and prints one table per sampler, the ground truth measured twice first:

- the ground truth's own repeatability (measured twice) against its target, >= 95% within +-10% and tau >= 0.95;
  below it, this machine cannot rank these architectures at this spread, and the estimator is not judged (the
  verdict says what to change);
- uncalibrated and calibrated ``lut`` and calibrated ``flops``, with the target -- calibrated ``lut`` >= 95%
  within +-10% and tau >= 0.9 -- judged where the ground truth reaches its own.

``--fresh-table`` measures the lookup table anew in this process (in a temporary file) instead of using the cached
one, so that separate sittings share nothing. About 1-2 minutes per sampler on one core.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from gasnas_plugins.latency.verdict import Targets


def check(sampler: str, args: argparse.Namespace, out: Path, table: Path | None) -> dict:
    both = {"threads": args.threads, "repeats": args.repeats, "statistic": args.statistic, "clock": args.clock}
    sets = [f"latency.{section}.{key}={value}" for section in ("params", "measure.params")
            for key, value in both.items()]
    sets.append("latency.params.calibrate=0")  # the check fits its own calibration on its calibration set
    if table is not None:
        sets.append(f"latency.params.table={table}")
    command = [sys.executable, "-m", "gasnas.cli", "latency", "check",
               "--estimators", "lut,flops", "--sampler", sampler, "--seed", str(args.seed), "--rounds",
               str(args.rounds), "-n", str(args.samples), "--calibration-samples", str(args.calibration_samples),
               "-o", str(out), *(a for s in sets for a in ("--set", s))]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "report.json").read_text())


def rows_of(sampler: str, report: dict, targets: Targets) -> list[tuple]:
    """The table rows of one sampler: the ground truth measured twice first, then the estimators."""
    rows = []
    rep = report["repeatability"]
    if rep is not None:
        reached = rep["within_10"] >= targets.truth_within and rep["kendall_tau"] >= targets.truth_tau
        rows.append((sampler, "ground truth measured twice", f"{rep['mape']:.1f}%", f"{100 * rep['within_10']:.0f}%",
                     f"{rep['kendall_tau']:.3f}", "reached" if reached else "below: cannot rank"))
    got = {f"{r['estimator']} {r['variant']}": r for r in report["rows"]}
    status = report["verdict"]["status"]
    for name in ("lut uncalibrated", "lut calibrated", "flops calibrated"):
        r = got[name]
        verdict = {"met": "met", "not met": "NOT met", "cannot rank": "not judged"}.get(status, status)
        rows.append((sampler, name, f"{r['mape']:.1f}%", f"{100 * r['within_10']:.0f}%", f"{r['kendall_tau']:.3f}",
                     verdict if name == "lut calibrated" else ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", default="spread,diverse,uniform")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads for the table and the truth")
    parser.add_argument("--repeats", type=int, default=100,
                        help="timed runs per block and per network (the quickstart's)")
    parser.add_argument("--statistic", default=None, help="timing statistic of both (default: the estimators')")
    parser.add_argument("--clock", default=None, help="timing clock of both (default: the estimators')")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("-n", "--samples", type=int, default=50, help="evaluation architectures")
    parser.add_argument("--calibration-samples", type=int, default=30, help="calibration architectures")
    parser.add_argument("--fresh-table", action="store_true", help="measure the table anew in this process")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    from gasnas.console import console, table
    from gasnas_plugins.latency import LUTOptions

    defaults = LUTOptions()
    args.statistic, args.clock = args.statistic or defaults.statistic, args.clock or defaults.clock
    targets = Targets()
    rows, figures, verdicts = [], {}, []
    with tempfile.TemporaryDirectory() as tmp:
        table_path = Path(tmp) / "table.json" if args.fresh_table else None
        for sampler in args.samplers.split(","):
            report = check(sampler, args, Path(tmp) / sampler, table_path)
            rows += rows_of(sampler, report, targets)
            verdicts.append((sampler, report["verdict"]))
            figures[sampler] = {"rows": {f"{r['estimator']} {r['variant']}": {k: r[k] for k in
                                                                              ("mape", "within_10", "kendall_tau")}
                                         for r in report["rows"]},
                                "repeatability": report["repeatability"], "verdict": report["verdict"],
                                "measured_ms": [min(report["measured"]), max(report["measured"])],
                                "measured_with": report["measured_with"]}
    console.print(table(f"latency fidelity, quickstart space, ONNX Runtime CPU, {args.threads} thread(s), "
                        f"{args.statistic} of {args.repeats} runs, clock {args.clock}, {args.rounds} round(s)",
                        ["sampler", "measurement", "MAPE", "within +-10%", "Kendall tau", "target"], rows,
                        caption=f"targets: {targets.describe()}"))
    for sampler, verdict in verdicts:
        console.print(f"{sampler}: {verdict['text']}", soft_wrap=True, markup=False)
        for line in verdict["advice"]:
            console.print(f"  - {line}", soft_wrap=True, markup=False)
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "seed": args.seed, "rounds": args.rounds,
                                         "repeats": args.repeats, "statistic": args.statistic, "clock": args.clock,
                                         "fresh_table": args.fresh_table, "samplers": figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
