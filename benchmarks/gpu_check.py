"""The GPU check of the latency estimators, in one run that fits a lent device's time (under 9 minutes).

    python benchmarks/gpu_check.py OUT_DIR                     # on a CUDA machine, gasnas installed
    python benchmarks/gpu_check.py OUT_DIR --quick --device cpu   # the same steps, tiny, anywhere (a dry run)

Five steps, each a command as a user would type it, each with what is left of ``--budget`` seconds:

1. ``gasnas latency build`` -- the ``gas-paper`` lookup table at 1 x 3 x 1024 x 2048 on the GPU (ONNX Runtime,
   CUDA provider, fp32), written to OUT_DIR/gpu-table.json;
2. ``gasnas latency check`` -- ``-n 30`` architectures (and 15 for the calibration) predicted by ``lut``,
   ``flops`` and ``torch`` and measured end to end in ONNX Runtime, the calibration stored in the table;
3. ``gasnas search benchmarks/gpu_check.yaml`` -- a smoke-scale GAS search of ``gas-paper`` on the embedded
   digit-scenes at 256 x 512 (no download), for a searched network to time;
4. ``gasnas compare`` -- the searched network and the model zoo timed in ONNX Runtime at 1024 x 2048 on the GPU;
5. ``benchmarks/dcnas_memory.py`` -- a ``dcnas-paper`` supernet search step at 512 x 1024 (batch 2), dense and with
   path and channel sampling: peak memory and step time, and whether the dense one fits at all.

A step that fails or runs out of time is recorded and the rest go on. OUT_DIR/summary.md holds the figures,
written to paste into docs/latency.md; log.txt holds every command's output; 8 files in all.

On a lent device machine (no internet there; its python3 has torch with CUDA and the CPU-only ``onnxruntime``),
carry the ``onnxruntime-gpu`` wheel for its Python (see the device tool's README on carrying wheels), then:

    pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
    pip install -q --no-build-isolation --no-deps -e . && python benchmarks/gpu_check.py $OUT

Without ``onnxruntime-gpu`` the ONNX Runtime steps run on the CPU provider and say so (the provider that loads
is in every figure's description).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = ("bisenetv1-xception39", "bisenetv1-r18", "bisenetv2", "stdc1", "stdc2")


def gasnas(*args: str) -> list[str]:
    return [sys.executable, "-m", "gasnas.cli", *args]


class Steps:
    """Runs commands one after another within one time budget, logging each."""

    def __init__(self, out: Path, budget: float) -> None:
        self.out, self.deadline = out, time.monotonic() + budget
        self.log = (out / "log.txt").open("w")
        self.results: dict[str, dict] = {}

    def run(self, name: str, command: list[str]) -> bool:
        left = self.deadline - time.monotonic()
        if left < 5:
            self.results[name] = {"ok": False, "why": "no time left"}
            return False
        self.log.write(f"\n$ {' '.join(command)}\n")
        self.log.flush()
        started = time.monotonic()
        try:
            done = subprocess.run(command, stdout=self.log, stderr=subprocess.STDOUT, timeout=left,
                                  env={**os.environ, "COLUMNS": "160"})
            ok, why = done.returncode == 0, f"exit {done.returncode}"
        except subprocess.TimeoutExpired:
            ok, why = False, f"stopped after {left:.0f} s (the budget)"
        seconds = time.monotonic() - started
        self.results[name] = {"ok": ok, "seconds": round(seconds, 1), **({} if ok else {"why": why})}
        print(f"{name}: {'ok' if ok else why} in {seconds:.0f} s", flush=True)
        return ok


def device_description(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()})"


def summary_markdown(summary: dict) -> str:
    lines = [f"GPU check on {summary['device']} ({summary['input']}, {summary['date']}): "
             f"`python benchmarks/gpu_check.py OUT`", ""]
    check = summary.get("check")
    if check:
        lines += [f"`latency check`: {check['n']} architectures of gas-paper, measured with {check['measured_with']}",
                  "", "| estimator | variant | MAPE | within +-10% | Kendall tau |", "|---|---|---|---|---|"]
        for row in check["rows"]:
            mape = "--" if row["mape"] is None else f"{row['mape']:.1f}%"
            within = "--" if row["within_10"] is None else f"{100 * row['within_10']:.0f}%"
            lines.append(f"| `{row['estimator']}` | {row['variant']} | {mape} | {within} | {row['kendall_tau']:.3f} |")
        rep = check.get("repeatability")
        if rep:
            lines.append(f"| ground truth measured twice | | {rep['mape']:.1f}% | {100 * rep['within_10']:.0f}% | "
                         f"{rep['kendall_tau']:.3f} |")
        lines.append("")
    compare = summary.get("compare")
    if compare:
        lines += ["| network | median ms | FPS |", "|---|---|---|"]
        for row in compare:
            lines.append(f"| {row['name']} | {row['median_ms']:.2f} | {1000 / row['median_ms']:.1f} |")
        lines.append("")
    dcnas = summary.get("dcnas")
    if dcnas:
        size = "x".join(map(str, dcnas["size"]))
        lines += [f"DCNAS supernet search step ({size}, batch {dcnas['batch']}; sampled: {dcnas['paths']} paths per "
                  f"cell, channel fraction {dcnas['fraction']})", "",
                  "| space | supernet | step s | peak MiB | sampled / dense memory | sampled / dense time |",
                  "|---|---|---|---|---|---|"]
        for name, entry in dcnas["spaces"].items():
            for kind in ("dense", "sampled"):
                r = entry[kind]
                step = f"{r['step_s']:.3f}" if "step_s" in r else "out of memory" if r.get("oom") else "failed"
                peak = r.get("peak_mib")
                peak = f"{peak:.0f}" if isinstance(peak, float) and peak == peak else "--"  # NaN: not measured
                ratios = (f"{entry['memory_ratio']:.2f}x | {entry['time_ratio']:.2f}x"
                          if kind == "sampled" and "memory_ratio" in entry else " | ")
                lines.append(f"| {name} | {kind} | {step} | {peak} | {ratios} |")
        lines.append("")
    lines.append("Steps: " + ", ".join(f"{k} {'ok' if v['ok'] else v['why']} ({v.get('seconds', 0)} s)"
                                       for k, v in summary["steps"].items()))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where the table, reports and summary go")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--input", default="1x3x1024x2048")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--calibration-samples", type=int, default=15)
    parser.add_argument("--budget", type=float, default=510.0, help="seconds for all five steps together")
    parser.add_argument("--quick", action="store_true",
                        help="a dry run: 1x3x64x128, 4 + 3 architectures, few repeats, a 2-step search")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.input, args.samples, args.calibration_samples = "1x3x64x128", 4, 3
    config = str(HERE / "gpu_check.yaml")
    table = str(out / "gpu-table.json")
    timing = ["--set", "latency.params.repeats=3", "--set", "latency.params.warmup=1",
              "--set", "latency.measure.params.repeats=3", "--set", "latency.measure.params.warmup=1"] \
        if args.quick else []
    common = ["--device", args.device, "--set", f"latency.params.table={table}", *timing]
    steps = Steps(out, args.budget)

    steps.run("build", gasnas("latency", "build", config, "--input", args.input, "--classes", "19", *common))
    check_dir = out / "check"
    steps.run("check", gasnas("latency", "check", config, "--input", args.input, "--classes", "19", *common,
                              "-n", str(args.samples), "--calibration-samples", str(args.calibration_samples),
                              "--estimators", "lut,flops,torch", "--store-calibration", "-o", str(check_dir)))
    runs = Path(tempfile.mkdtemp(prefix="gasnas-gpu-check-"))
    search = [*common, "--output", str(runs), "--name", "search"]
    if args.quick:
        search += ["--set", "dataset.params.size=[64,128]", "--set", "budget.epochs=1",
                   "--set", "budget.steps_per_epoch=2", "--set", "budget.batch_size=2",
                   "--set", "budget.workers=0", "--set", "strategy.params.warmup_epochs=0"]
    targets = list(MODELS)
    if steps.run("search", gasnas("search", config, *search)):
        shutil.copy(runs / "search" / "architecture.yaml", out / "architecture.yaml")
        targets.append(str(out / "architecture.yaml"))
    compare_png = out / "compare.png"
    steps.run("compare", gasnas("compare", *targets, "--input", args.input, "--device", args.device,
                                "--runtime", "onnxruntime", "--num-classes", "19",
                                *(["--repeats", "3", "--warmup", "1"] if args.quick else []), "-o", str(compare_png)))
    dcnas_json = runs / "dcnas-memory.json"
    dcnas_size = ["--size", "64x128", "--batch", "1", "--steps", "1", "--paper-layers", "1"] if args.quick else \
        ["--size", "512x1024", "--batch", "2", "--steps", "2"]
    steps.run("dcnas", [sys.executable, str(HERE / "dcnas_memory.py"), "--device", args.device, "--only", "paper",
                        *dcnas_size, "--json", str(dcnas_json)])
    dcnas = json.loads(dcnas_json.read_text()) if dcnas_json.is_file() else None
    shutil.rmtree(runs, ignore_errors=True)
    steps.log.close()

    summary: dict = {"device": device_description(args.device), "input": args.input,
                     "date": time.strftime("%Y-%m-%d"), "steps": steps.results}
    if (check_dir / "report.json").is_file():
        report = json.loads((check_dir / "report.json").read_text())
        summary["check"] = {"n": report["n"], "measured_with": report["measured_with"],
                            "repeatability": report["repeatability"],
                            "rows": [{k: r[k] for k in ("estimator", "variant", "mape", "within_10", "kendall_tau")}
                                     for r in report["rows"]]}
    if compare_png.with_suffix(".json").is_file():
        measured = json.loads(compare_png.with_suffix(".json").read_text())
        summary["compare"] = [{"name": e["label"], "median_ms": e["latency_ms"]} for e in measured["entries"]]
    if dcnas is not None:
        summary["dcnas"] = dcnas
    (out / "summary.md").write_text(summary_markdown(summary))
    print(summary_markdown(summary))
    return 0 if all(step["ok"] for step in steps.results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
