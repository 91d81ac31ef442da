"""What the search-quality and dataset benchmarks share: gasnas commands on one thread, architecture files that
train on a search's dataset, the short retraining recipe, and end-to-end latency measurements.

Not a benchmark itself: ``search_quality.py`` and ``digit_scenes.py`` import it.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the short retraining recipe (ours): AdamW on the dataset's training crops (digit-scenes: 64 x 128) at batch 8,
#: the val mIoU of the last epoch (no best epoch picked on the split that is reported)
RECIPE = ["--batch-size", "8", "--lr", "0.003", "--set", "train.optimizer=adamw", "--set",
          "train.weight_decay=0.0001", "--set", "threads=1", "--device", "cpu"]
#: epochs of the recipe: 24 x 125 steps x 8 = 24,000 training crops, the quickstart search's image budget
EPOCHS = 24
SKIP, CONV = "skip_connect", "conv_3x3"
#: the seed of the stream random architectures are drawn from (one stream for every benchmark: shared trainings)
RANDOM_SEED = 1000


@dataclass
class Network:
    """A network to retrain: its sample, what it is, its estimated latency, and what retraining gave."""

    name: str
    kind: str
    sample: dict[str, Any]
    estimated: float
    group: str = ""
    arch_file: Path | None = None
    measured: float | None = None
    miou: dict[int, float] = field(default_factory=dict)
    target: float | None = None

    @property
    def mean(self) -> float:
        return statistics.fmean(self.miou.values()) if self.miou else math.nan

    def share(self, op: str) -> float:
        ops = [v for k, v in self.sample.items() if "/op_" in k]
        return sum(v == op for v in ops) / max(len(ops), 1)


def gasnas(args: list[str], log: Path) -> float:
    """Run a gasnas command on one thread, its output appended to ``log``; returns its wall time in seconds."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.perf_counter()
    with log.open("a") as out:
        out.write(f"$ gasnas {' '.join(args)}\n")
        out.flush()
        subprocess.run([sys.executable, "-m", "gasnas.cli", *args], check=True, stdout=out, stderr=subprocess.STDOUT,
                       env=env)
    return time.perf_counter() - start


@dataclass
class SearchRun:
    """A finished search's run directory, and what its config builds: space, estimator, input shape, classes."""

    path: Path
    config: Any
    space: Any
    estimator: Any
    input_shape: tuple[int, ...]
    num_classes: int
    best: Any

    @classmethod
    def load(cls, path: Path) -> SearchRun:
        from gasnas.api.latency import LatencyEnv
        from gasnas.architecture import Architecture
        from gasnas.config import load_config
        from gasnas.plugins import get_plugin_manager

        config = load_config(path / "config.yaml")
        registry = get_plugin_manager().registry
        dataset = registry("datasets").get(config.dataset.name).build(config.dataset.params)
        space = registry("search spaces").get(config.space.name).build(config.space.params)
        env = LatencyEnv(device="cpu", num_classes=dataset.num_classes)
        estimator = registry("latency estimators").get(config.latency.name).build(config.latency.params, env)
        best = Architecture.load(path / "architecture.yaml")
        return cls(path, config, space, estimator, tuple(best.metadata["input_shape"]), dataset.num_classes, best)

    def estimate(self, sample: dict[str, Any]) -> float:
        return float(self.estimator.estimate(self.space, sample, self.input_shape))

    def with_ops(self, op: str, sample: dict[str, Any] | None = None) -> dict[str, Any]:
        """``sample`` (default: the searched one) with every operation replaced by ``op``, its wiring kept."""
        return {k: (op if "/op_" in k else v) for k, v in (sample or self.best.sample).items()}

    def randoms_near(self, latency: float, n: int, tolerance: float, seed: int,
                     limit: int = 20_000) -> tuple[list[dict[str, Any]], int]:
        """Up to ``n`` random architectures whose estimated latency is within +-``tolerance`` of ``latency``,
        and how many were drawn to find them."""
        import random

        rng = random.Random(seed)
        found, drawn = [], 0
        while len(found) < n and drawn < limit:
            sample = self.space.random_sample(rng)
            drawn += 1
            if abs(self.estimate(sample) - latency) <= tolerance * latency:
                found.append(sample)
        return found, drawn

    def architecture_file(self, network: Network, folder: Path) -> Path:
        """``network`` as an architecture file whose metadata points at this run (training uses its dataset)."""
        from gasnas.architecture import Architecture
        from gasnas.options import options_to_dict

        params = options_to_dict(self.config.space.params) if self.config.space.params is not None else {}
        arch = Architecture(network.sample, self.config.space.name, params, {"run": str(self.path.resolve())})
        network.arch_file = arch.save(folder / f"{arch.id}.yaml")
        return network.arch_file


def retrain(arch_file: Path, seed: int, out: Path, log: Path, epochs: int = EPOCHS) -> float:
    """The recipe's final val mIoU of ``arch_file`` trained with ``seed`` (a finished run is reused)."""
    name = f"{arch_file.stem}-s{seed}"
    summary = out / name / "summary.json"
    if not summary.is_file():
        gasnas(["train", str(arch_file), "--epochs", str(epochs), "--set", f"train.eval_every={epochs}",
                "--set", f"seed={seed}", "--output", str(out), "--name", name, *RECIPE], log)
    return float(json.loads(summary.read_text())["last"]["val_miou"])


def _retrain_task(shared: tuple[Path, Path, int], task: tuple[Path, int]) -> float:
    """One retraining as an executor's task (a Ray worker imports this module by name)."""
    out, log, epochs = shared
    return retrain(task[0], task[1], out, log, epochs)


def retrain_all(networks: list[Network], seeds: list[int], out: Path, log: Path, workers: int,
                epochs: int = EPOCHS, executor: Any = None) -> None:
    """Retrain every distinct architecture file with every seed: ``workers`` at a time here (one thread each),
    or through ``executor`` (a gasnas executor, e.g. ``ray``: one task per training, wherever Ray puts it)."""
    from concurrent.futures import ThreadPoolExecutor

    files = list(dict.fromkeys(n.arch_file for n in networks))
    tasks = [(Path(f).resolve(), s) for f in files for s in seeds]
    if executor is not None:
        results = executor.map(_retrain_task, tasks, shared=(Path(out).resolve(), Path(log).resolve(), epochs))
    else:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda task: retrain(task[0], task[1], out, log, epochs), tasks))
    for (f, s), miou in zip(tasks, results):
        for n in networks:
            if Path(n.arch_file).resolve() == f:
                n.miou[s] = miou


def measure(networks: list[Network], run: SearchRun, rounds: int = 3) -> None:
    """Time every distinct network end to end in ONNX Runtime on one thread, in ``rounds`` interleaved rounds
    (a fresh random order each; the median is kept). Run it with nothing else running."""
    import torch

    from gasnas.api.latency import LatencyEnv
    from gasnas_plugins.latency import WholeNetworkOptions
    from gasnas_plugins.latency.check import measure_interleaved
    from gasnas_plugins.latency.whole import OnnxRuntimeEstimator

    torch.set_num_threads(1)
    by_file: dict[Path, list[Network]] = {}
    for n in networks:
        by_file.setdefault(n.arch_file, []).append(n)
    timer = OnnxRuntimeEstimator(WholeNetworkOptions(threads=1, warmup=10, repeats=50),
                                 LatencyEnv(device="cpu", num_classes=run.num_classes))
    samples = [group[0].sample for group in by_file.values()]
    for group, ms in zip(by_file.values(), measure_interleaved(timer, run.space, samples, run.input_shape,
                                                                 rounds=rounds, seed=0)):
        for n in group:
            n.measured = ms


def seed_se(networks: list[Network]) -> float:
    """The seed-to-seed standard error of a network's mean val mIoU: the pooled within-network standard
    deviation over seeds, divided by the square root of the number of seeds."""
    variances = [statistics.variance(n.miou.values()) for n in networks if len(n.miou) > 1]
    seeds = max((len(n.miou) for n in networks), default=1)
    return math.sqrt(statistics.fmean(variances)) / math.sqrt(seeds) if variances else math.nan


def table(networks: list[Network], seeds: list[int]) -> str:
    """A markdown table: estimated and measured latency, mean and per-seed val mIoU, skip share."""
    lines = ["| network | est. ms | measured ms | mean val mIoU | " + " | ".join(f"seed {s}" for s in seeds)
             + " | skip share |", "|---|---|---|---|" + "---|" * len(seeds) + "---|"]
    for n in networks:
        per_seed = " | ".join(f"{n.miou[s]:.3f}" if s in n.miou else "-" for s in seeds)
        measured = f"{n.measured:.3f}" if n.measured is not None else "-"
        lines.append(f"| {n.name} | {n.estimated:.3f} | {measured} | {n.mean:.3f} | {per_seed} | {n.share(SKIP):.2f} |")
    return "\n".join(lines)
