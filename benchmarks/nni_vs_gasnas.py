"""NNI 3.0's DARTS against gasnas's differentiable strategy on the same GAS space, data, batch, device and
relaxation: the time of a search epoch, and what a latency penalty does to the derived architecture.

Both runs go through gasnas's engine (same seed, same data, same train-split halves: weights on one, architecture
on the other), with the same DARTS softmax relaxation (every edge mixes the seven operations and "no edge"), the
same optimisers (weights: SGD 0.05, momentum 0.9, cosine, clip 5; architecture: Adam, betas 0.5/0.999,
weight decay 1e-3) and no communicator. gasnas: strategy ``differentiable`` (relaxation softmax, no warm-up);
NNI: strategy ``nni`` (algorithm DARTS), which runs NNI's own supernet and Lightning loop on the gas space's NNI
``ModelSpace``. An epoch's time is its training steps only (validation and export excluded), measured in one
process, one run after the other; on a CPU it is measured as process CPU time too, with a fixed thread count
(``--threads``), which other processes on a shared machine disturb far less than wall-clock time.

The penalty: gasnas adds ``beta * E[LAT] / E[LAT of the uniform architecture]`` (``beta`` = --penalty); NNI gets
``penalty=ExpectationProfilerPenalty(profiler, baseline, scale=--penalty)`` whose profiler expression is built
from the same block costs (``flops`` by default, so the result does not depend on timing noise). The derived
architecture of each run is estimated by the same estimator.

    python benchmarks/nni_vs_gasnas.py [--device cpu] [--threads 1] [--epochs 3] [--steps 4] [--json out.json]
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
            "latency_loss: linear, grad_clip: 5.0, weight_optimizer: sgd, weight_lr: 0.05, weight_lr_min: 0.001, "
            "weight_decay: 0.0003, top_k: 1, val_batches: 1}")


def nni_params(arch_lr: float, penalty: float) -> str:
    return (f"{{algorithm: DARTS, penalty: {penalty}, weight_lr: 0.05, val_batches: 1, "
            f"kwargs: {{arc_learning_rate: {arch_lr}, gradient_clip_val: 5.0}}}}")


class EpochClock:
    """Wall and process CPU time of each training epoch of either strategy (patched onto their epoch hooks)."""

    def __init__(self, cuda: bool) -> None:
        self.cuda, self.wall, self.cpu = cuda, [], []
        self._start: tuple[float, float] = (0.0, 0.0)

    def start(self) -> None:
        self._start = (time.perf_counter(), time.process_time())

    def stop(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        self.wall.append(time.perf_counter() - self._start[0])
        self.cpu.append(time.process_time() - self._start[1])

    def patch(self):
        from gasnas_plugins.strategies.differentiable.strategy import DifferentiableSearch
        from gasnas_plugins.strategies.nni.training import EpochReport

        clock, originals = self, (DifferentiableSearch.train_epoch, EpochReport.on_train_epoch_start,
                                  EpochReport.on_train_epoch_end)

        def train_epoch(strategy, *args, **kwargs):
            clock.start()
            out = originals[0](strategy, *args, **kwargs)
            clock.stop()
            return out

        def epoch_start(report, *args):
            originals[1](report, *args)
            clock.start()

        def epoch_end(report, *args):
            clock.stop()
            originals[2](report, *args)

        DifferentiableSearch.train_epoch, EpochReport.on_train_epoch_start = train_epoch, epoch_start
        EpochReport.on_train_epoch_end = epoch_end
        return lambda: (setattr(DifferentiableSearch, "train_epoch", originals[0]),
                        setattr(EpochReport, "on_train_epoch_start", originals[1]),
                        setattr(EpochReport, "on_train_epoch_end", originals[2]))


def run(config: Path, overrides: list[str], device: str, threads: int | None = None) -> dict:
    """One search of ``config`` with ``overrides`` on ``threads`` CPU threads (None: gasnas's rule, see
    gasnas.threads): its epochs' times, the whole run's time and the derived architecture."""
    from gasnas.config import load_config
    from gasnas.engine import Engine
    from gasnas.reporting import NullReporter

    clock = EpochClock(device.startswith("cuda"))
    restore = clock.patch()
    try:
        engine = Engine(load_config(config, overrides), reporter=NullReporter(), device=device, threads=threads)
        started = time.perf_counter()
        result = engine.run()
        total = time.perf_counter() - started
    finally:
        restore()
    best = result.best
    return {"wall_s": clock.wall, "cpu_s": clock.cpu, "run_s": total, "sample": dict(best.sample),
            "latency": best.metadata["estimated_latency"], "unit": best.metadata["estimated_latency_unit"]}


def prepare_data(config: Path | str, overrides: list[str] = ()) -> None:
    """Generate (and cache) the training data of ``config`` with ``overrides`` before anything is timed."""
    from gasnas.config import load_config
    from gasnas.plugins import get_plugin_manager

    dataset = load_config(config, list(overrides)).dataset
    get_plugin_manager().registry("datasets").get(dataset.name).build(dataset.params).split("train", train=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (fixed for both)")
    parser.add_argument("--epochs", type=int, default=3, help="search epochs (the first one includes warm-up)")
    parser.add_argument("--steps", type=int, default=4, help="steps per epoch")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=(64, 128), metavar=("H", "W"))
    parser.add_argument("--cells", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--arch-lr", type=float, default=0.05)
    parser.add_argument("--penalty", type=float, default=5.0, help="gasnas beta and NNI penalty scale")
    parser.add_argument("--latency", default="flops", choices=["flops", "lut"])
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    import torch

    import nni.nas.strategy  # noqa: F401 - imported before timing (seconds, and it rewrites a file of its own)

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="nni-vs-gasnas-"))
    config = tmp / "search.yaml"
    h, w = args.size
    config.write_text(CONFIG.format(output=tmp / "runs", h=h, w=w, train=2 * args.steps * args.batch,
                                    cells=args.cells, nodes=args.nodes, reduction=args.cells // 2,
                                    latency=args.latency, epochs=args.epochs, batch=args.batch, steps=args.steps))
    prepare_data(config)

    runs: dict[tuple[str, float], dict] = {}
    for penalty in (0.0, args.penalty):
        for name, strategy, params in (("gasnas differentiable", "differentiable", gasnas_params),
                                       ("NNI DARTS", "nni", nni_params)):
            print(f"running {name}, penalty {penalty:g} ...", file=sys.stderr, flush=True)
            overrides = [f"strategy.name={strategy}", f"strategy.params={params(args.arch_lr, penalty)}"]
            runs[(name, penalty)] = run(config, overrides, args.device, args.threads)

    print(f"\nGAS space gas-tiny with {args.cells} cells x {args.nodes} nodes (reduction at cell {args.cells // 2}), "
          f"digit-scenes {h}x{w}, batch {args.batch}, {args.steps} steps/epoch, {args.epochs} epochs, softmax "
          f"relaxation, device {args.device}, {args.threads} thread(s)\n")
    print(f"{'strategy':<23}{'penalty':>8}{'epoch CPU s':>13}{'epoch wall s':>14}{'derived latency':>19}"
          "  moved by the penalty")
    for (name, penalty), r in runs.items():
        steady = r["cpu_s"][1:] or r["cpu_s"]  # the first epoch includes one-time warm-up
        wall = r["wall_s"][1:] or r["wall_s"]
        moved = ""
        if penalty:
            free = runs[(name, 0.0)]
            choices = [k for k in free["sample"] if "/op_" in k or "/input_" in k]
            changed = sum(r["sample"][k] != free["sample"][k] for k in choices)
            moved = f"{r['latency'] - free['latency']:+.4f} {r['unit']}, {changed} of {len(choices)} choices changed"
        print(f"{name:<23}{penalty:>8g}{statistics.median(steady):>13.2f}{statistics.median(wall):>14.2f}"
              f"{r['latency']:>13.4f} {r['unit']:<5}  {moved}")
    cpu = {name: statistics.median(runs[(name, 0.0)]["cpu_s"][1:] or runs[(name, 0.0)]["cpu_s"])
           for name in ("NNI DARTS", "gasnas differentiable")}
    ratio = cpu["NNI DARTS"] / cpu["gasnas differentiable"]
    print(f"\nepoch time ratio NNI DARTS / gasnas differentiable: {ratio:.2f} (median process CPU time per epoch "
          "without penalty, first epoch excluded)")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(
            v, Path) else v) for k, v in vars(args).items()}, "ratio": ratio,
            "runs": [{"strategy": n, "penalty": p, **r} for (n, p), r in runs.items()]}, indent=2))


if __name__ == "__main__":
    main()
