"""NNI 3.0's DARTS against gasnas's differentiable strategy on the same GAS space, data, batch, device and
relaxation: the time of one search epoch, and what a latency penalty does to the derived architecture.

Both runs go through gasnas's engine (same seed, same data, same train-split halves: weights on one, architecture
on the other), with the same DARTS softmax relaxation (every edge mixes the seven operations and "no edge"), the
same optimisers (weights: SGD 0.05, momentum 0.9, cosine, clip 5; architecture: Adam, betas 0.5/0.999,
weight decay 1e-3) and no communicator. gasnas: strategy ``differentiable`` (relaxation softmax, no warm-up);
NNI: strategy ``nni`` (algorithm DARTS), which runs NNI's own supernet and Lightning loop on the gas space's NNI
``ModelSpace``. An epoch's time is its training steps only (validation and export excluded), measured in one
process, one run after the other.

The penalty: gasnas adds ``beta * E[LAT] / E[LAT of the uniform architecture]`` (``beta`` = --penalty); NNI gets
``penalty=ExpectationProfilerPenalty(profiler, baseline, scale=--penalty)`` whose profiler expression is built
from the same block costs (``flops`` by default, so the result does not depend on timing noise). The derived
architecture of each run is estimated by the same estimator.

    python benchmarks/nni_vs_gasnas.py [--device cpu] [--epochs 2] [--steps 8] [--repeats 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

CONFIG = """\
seed: 0
output: {output}
dataset: {{name: digit-scenes, params: {{size: [{h}, {w}], train_size: {train}, val_size: 16}}}}
space: {{name: gas, params: {{preset: gas-tiny, cells: {cells}, nodes: {nodes}, reductions: [{reduction}]}}}}
strategy: {{name: differentiable}}
latency: {{name: {latency}}}
evaluator: {{name: segmentation}}
budget: {{epochs: {epochs}, batch_size: {batch}, steps_per_epoch: {steps}}}
"""


def gasnas_params(arch_lr: float, penalty: float) -> str:
    return (f"{{relaxation: softmax, warmup_epochs: 0, bilevel: true, arch_lr: {arch_lr}, beta: {penalty}, "
            "grad_clip: 5.0, weight_lr: 0.05, top_k: 1, val_batches: 1}")


def nni_params(arch_lr: float, penalty: float) -> str:
    return (f"{{algorithm: DARTS, penalty: {penalty}, weight_lr: 0.05, val_batches: 1, "
            f"kwargs: {{arc_learning_rate: {arch_lr}, gradient_clip_val: 5.0}}}}")


def run(config: Path, strategy: str, params: str, device: str) -> dict:
    """One search; returns the first epoch's training time, the whole run's time and the derived architecture."""
    from gasnas.config import load_config
    from gasnas.engine import Engine
    from gasnas.reporting import NullReporter
    from gasnas_plugins.strategies.differentiable.strategy import DifferentiableSearch

    epoch_times: list[float] = []
    original = DifferentiableSearch.train_epoch

    def timed(self, *args, **kwargs):
        started = time.perf_counter()
        out = original(self, *args, **kwargs)
        if self.ctx.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
        epoch_times.append(time.perf_counter() - started)
        return out

    DifferentiableSearch.train_epoch = timed
    try:
        engine = Engine(load_config(config, [f"strategy.name={strategy}", f"strategy.params={params}"]),
                        reporter=NullReporter(), device=device)
        started = time.perf_counter()
        result = engine.run()
        total = time.perf_counter() - started
    finally:
        DifferentiableSearch.train_epoch = original
    if strategy == "nni":
        records = [json.loads(line) for line in (engine.run_dir.path / "metrics.jsonl").read_text().splitlines()]
        epoch_times = [r["epoch_time_s"] for r in records]
    best = result.best
    return {"epoch_s": epoch_times[0], "epochs_s": epoch_times, "total_s": total, "sample": dict(best.sample),
            "latency": best.metadata["estimated_latency"], "unit": best.metadata["estimated_latency_unit"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=2, help="search epochs (the first one is timed)")
    parser.add_argument("--steps", type=int, default=8, help="steps per epoch")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=(64, 128), metavar=("H", "W"))
    parser.add_argument("--cells", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--arch-lr", type=float, default=0.05)
    parser.add_argument("--penalty", type=float, default=5.0, help="gasnas beta and NNI penalty scale")
    parser.add_argument("--latency", default="flops", choices=["flops", "lut"])
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of each strategy without penalty, interleaved; epoch times are pooled")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    import nni.nas.strategy  # noqa: F401 - imported before timing (seconds, and it rewrites a file of its own)

    tmp = Path(tempfile.mkdtemp(prefix="nni-vs-gasnas-"))
    config = tmp / "search.yaml"
    h, w = args.size
    config.write_text(CONFIG.format(output=tmp / "runs", h=h, w=w, train=2 * args.steps * args.batch,
                                    cells=args.cells, nodes=args.nodes, reduction=args.cells // 2, latency=args.latency,
                                    epochs=args.epochs,
                                    batch=args.batch, steps=args.steps))
    from gasnas.config import load_config
    from gasnas.plugins import get_plugin_manager

    dataset = load_config(config).dataset  # generate (and cache) the data before anything is timed
    get_plugin_manager().registry("datasets").get(dataset.name).load()(dataset.params).split("train", train=True)

    strategies = (("gasnas differentiable", "differentiable", gasnas_params), ("NNI DARTS", "nni", nni_params))
    runs: dict[tuple[str, float], dict] = {}
    epochs: dict[str, list[float]] = {name: [] for name, _, _ in strategies}
    for repeat in range(args.repeats):
        for penalty in (0.0, args.penalty) if repeat == 0 else (0.0,):
            for name, strategy, params in strategies:
                print(f"running {name}, penalty {penalty:g} ...", file=sys.stderr, flush=True)
                r = run(config, strategy, params(args.arch_lr, penalty), args.device)
                runs.setdefault((name, penalty), r)
                if penalty == 0:
                    epochs[name] += r["epochs_s"]

    print(f"\nGAS space gas-tiny with {args.cells} cells x {args.nodes} nodes (reduction at cell {args.cells // 2}), "
          f"digit-scenes {h}x{w}, batch {args.batch}, {args.steps} steps/epoch, {args.epochs} epochs, softmax "
          f"relaxation, device {args.device}\n")
    print(f"{'strategy':<24}{'penalty':>8}{'epoch 1 (s)':>13}{'run (s)':>10}{'derived latency':>18}  moved by penalty")
    for (name, penalty), r in runs.items():
        moved = ""
        if penalty:
            free = runs[(name, 0.0)]
            ops = [k for k in free["sample"] if "/op_" in k or "/input_" in k]
            changed = sum(r["sample"][k] != free["sample"][k] for k in ops)
            moved = f"{r['latency'] - free['latency']:+.4f} {r['unit']} ({changed} of {len(ops)} choices changed)"
        print(f"{name:<24}{penalty:>8g}{r['epoch_s']:>13.2f}{r['total_s']:>10.1f}"
              f"{r['latency']:>12.4f} {r['unit']:<5}  {moved}")
    median = {name: statistics.median(times) for name, times in epochs.items()}
    ratio = median["NNI DARTS"] / median["gasnas differentiable"]
    best = min(epochs["NNI DARTS"]) / min(epochs["gasnas differentiable"])
    print(f"\nepoch times without penalty ({len(epochs['NNI DARTS'])} epochs each): "
          + ", ".join(f"{name} median {median[name]:.2f} s, min {min(t):.2f} s" for name, t in epochs.items()))
    print(f"epoch time ratio NNI DARTS / gasnas differentiable: {ratio:.2f} (medians), {best:.2f} (minima)")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(
            v, Path) else v) for k, v in vars(args).items()}, "ratio_median": ratio, "ratio_min": best,
            "epoch_s": epochs, "runs": [{"strategy": n, "penalty": p, **r} for (n, p), r in runs.items()]}, indent=2))


if __name__ == "__main__":
    main()
