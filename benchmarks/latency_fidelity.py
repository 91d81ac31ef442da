"""The latency estimators' fidelity on this machine's CPU (docs/latency.md), and whether the targets are met.

    python benchmarks/latency_fidelity.py [--samplers spread,diverse,uniform] [--threads 1] [--json out.json]

Runs ``gasnas latency check`` on the quickstart (``gas-tiny`` at 128 x 256, ONNX Runtime CPU provider, the table
and the ground truth at the same fixed thread count) once per sampler, 30 calibration and 50 evaluation
architectures each, and prints one table: uncalibrated and calibrated ``lut``, calibrated ``flops`` and the
ground truth measured twice, with the targets -- calibrated ``lut`` within +-10% of measured for >= 90% of the
architectures and a Kendall tau >= 0.85 -- checked per sampler. About 95 s per sampler on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

WITHIN, TAU = 0.90, 0.85


def check(sampler: str, threads: int, seed: int, rounds: int, out: Path) -> dict:
    command = [sys.executable, "-m", "gasnas.cli", "latency", "check",
               "--estimators", "lut,flops", "--sampler", sampler, "--seed", str(seed), "--rounds", str(rounds),
               "--set", f"latency.params.threads={threads}", "--set", f"latency.measure.params.threads={threads}",
               "-o", str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "report.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", default="spread,diverse,uniform")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads for the table and the truth")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    from gasnas.console import console, table

    rows, figures = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in args.samplers.split(","):
            report = check(sampler, args.threads, args.seed, args.rounds, Path(tmp) / sampler)
            got = {f"{r['estimator']} {r['variant']}": r for r in report["rows"]}
            lut = got["lut calibrated"]
            met = lut["within_10"] >= WITHIN and lut["kendall_tau"] >= TAU
            figures[sampler] = {"rows": got, "repeatability": report["repeatability"], "target_met": met,
                                "measured_ms": [min(report["measured"]), max(report["measured"])]}
            for name in ("lut uncalibrated", "lut calibrated", "flops calibrated"):
                r = got[name]
                rows.append((sampler, name, f"{r['mape']:.1f}%", f"{100 * r['within_10']:.0f}%",
                             f"{r['kendall_tau']:.3f}", ("met" if met else "NOT met") if r is lut else ""))
            rep = report["repeatability"]
            rows.append((sampler, "measured twice", f"{rep['mape']:.1f}%", f"{100 * rep['within_10']:.0f}%",
                         f"{rep['kendall_tau']:.3f}", ""))
    console.print(table(f"latency fidelity, quickstart space, ONNX Runtime CPU, {args.threads} thread(s)",
                        ["sampler", "estimator", "MAPE", "within +-10%", "Kendall tau", "target"], rows,
                        caption=f"target: calibrated lut >= {WITHIN:.0%} within +-10% and tau >= {TAU}"))
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "seed": args.seed, "samplers": figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
