"""``gasnas train SEARCH_RUN --top-k K``: retrain the K best architectures of a search, each in a run directory of
its own, through the training config's executor (``executor:``; serial by default, one Ray task each with
``ray``).

Every training is a task :func:`train_one` of plain data -- the target's path, the config file, the overrides, the
device and the thread count -- so it runs alike wherever the executor puts it and gives what ``gasnas train
TARGET`` gives for it alone. Paths are made absolute before the tasks leave: a Ray worker starts elsewhere (on a
cluster, the search's run directory and the output must be on storage every node sees).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TrainJob", "run_top_k", "top_k_targets", "train_one", "train_top_k"]

TOP = re.compile(r"top(\d+)-")


@dataclass(frozen=True)
class TrainJob:
    """What every training of one ``--top-k`` shares (plain data: it travels to other processes)."""

    config_file: str | None
    overrides: tuple[str, ...]
    device: str | None
    threads: int
    #: progress bars in this process (the serial executor) rather than log lines (workers)
    rich: bool = False


def top_k_targets(run: Path, k: int) -> list[Path]:
    """The architecture files of the ``k`` best architectures of the search in ``run``, best first."""
    from gasnas.api import ConfigError

    folder = run / "architectures"
    files = sorted(((int(m.group(1)), p) for p in folder.glob("top*-*.yaml") if (m := TOP.match(p.name))),
                   key=lambda pair: pair[0]) if folder.is_dir() else []
    if not files:
        raise ConfigError(f"{run}: --top-k takes the run directory of a search (holding architectures/top1-*.yaml); "
                          "none there")
    if k > len(files):
        raise ConfigError(f"--top-k {k}: the search in {run} kept {len(files)} architectures; ask for at most "
                          f"{len(files)} (strategy.params.top_k sets how many a search keeps)")
    return [p.resolve() for _, p in files[:k]]


def train_one(job: TrainJob, target: tuple[str, str]) -> dict[str, Any]:
    """The task: train the architecture file ``target[0]`` into the run directory named ``target[1]``."""
    from gasnas.api import LogReporter, RichReporter, RunDirectory, get_plugin_manager
    from gasnas_plugins.commands.train import _summary
    from gasnas_plugins.training.config import load_train_config
    from gasnas_plugins.training.trainer import Trainer

    path, name = target
    pm = get_plugin_manager()
    config = load_train_config(path, job.config_file, [*job.overrides, f"name={name}"], pm=pm)
    run_dir = RunDirectory.create(config.output, name)
    run_dir.write_config(config)
    reporter = RichReporter() if job.rich else LogReporter()
    result = Trainer(config, run_dir, pm=pm, reporter=reporter, device=job.device, threads=job.threads).fit()
    run_dir.write_text("summary.json", _summary(result, dict(result.files)))
    return {"target": path, "run": str(run_dir.path), "metric": result.metric, "best": result.best,
            "best_epoch": result.best_epoch, "warnings": list(result.warnings)}


def train_top_k(run: Path, k: int, config_file: Path | None, overrides: Sequence[str], device: str | None,
                threads: int | None) -> list[dict[str, Any]]:
    """Check every training's config here, then train them through the config's executor; one summary per
    architecture, best first."""
    from gasnas.api import choose_threads, get_plugin_manager, open_executor
    from gasnas_plugins.training.config import load_train_config

    pm = get_plugin_manager()
    targets = top_k_targets(run, k)
    configs = [load_train_config(str(t), config_file, overrides, pm=pm) for t in targets]  # every mistake now
    first = configs[0]
    base = first.name or f"{time.strftime('%Y%m%d-%H%M%S')}-train-{run.resolve().name}"
    job = TrainJob(str(config_file.resolve()) if config_file is not None else None,
                   (*overrides, f"output={Path(first.output).resolve()}"), device,
                   choose_threads(threads, first.torch_threads).count)
    items = [(str(t), f"{base}-top{i + 1}") for i, t in enumerate(targets)]
    with open_executor(first.executor, pm) as executor:
        if executor.name == "serial":
            job = TrainJob(job.config_file, job.overrides, job.device, job.threads, rich=True)
        return executor.map(train_one, items, shared=job)


def run_top_k(run: Path, k: int, config_file: Path | None, overrides: Sequence[str], device: str | None,
              threads: int | None) -> None:
    """The command: train the top-k and end in one table, best searched architecture first."""
    from gasnas.api import console, table

    results = train_top_k(run, k, config_file, overrides, device, threads)
    rows = [(f"top{i + 1}: {Path(r['target']).stem.partition('-')[2]}",
             f"best {r['metric']} {r['best']:.4f} (epoch {r['best_epoch'] + 1})"
             + (f", {len(r['warnings'])} warning(s)" if r["warnings"] else ""), r["run"])
            for i, r in enumerate(results)]
    console.print(table(f"trained the top {k} of {run}", ["architecture", "result", "run directory"], rows))
