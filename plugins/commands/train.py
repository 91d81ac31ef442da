"""``gasnas train TARGET``: train a fixed network (an architecture file or a registered model) from scratch."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from gasnas.api import threads_option

__all__ = ["train"]


@click.command("train")
@click.argument("target", required=False)
@click.option("-c", "--config", "config_file", type=click.Path(path_type=Path),
              help="Training config YAML (sections dataset, evaluator, model, train, executor; keys seed, device, "
                   "threads, output, name).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set train.lr=0.05 (repeatable).")
@click.option("--dataset", help="Dataset name (shorthand for --set dataset.name=...).")
@click.option("--epochs", type=int, help="Shorthand for --set train.epochs=N.")
@click.option("--batch-size", type=int, help="Shorthand for --set train.batch_size=N.")
@click.option("--lr", type=float, help="Shorthand for --set train.lr=X.")
@click.option("--device", help="auto, cpu, cuda or cuda:N (overrides the config).")
@threads_option
@click.option("--output", help="Directory for run directories (default runs).")
@click.option("--name", help="Run directory name.")
@click.option("--init", "init", metavar="PATH",
              help="Start from the weights in PATH (a state dict, a checkpoint, a best.pt, or a layout the model "
                   "declares, e.g. torchvision's ResNet-18 for bisenetv1-r18); shorthand for --set train.init=PATH.")
@click.option("--init-mode", type=click.Choice(["strict", "partial"]),
              help="strict (default): every tensor of --init must fit; partial: load what fits and report the rest.")
@click.option("--teacher", metavar="PATH",
              help="Distil from the trained teacher in PATH (a gasnas train run directory or its best.pt): KL "
                   "divergence on softened logits beside the cross-entropy; shorthand for --set "
                   "train.distill.teacher=PATH (temperature and weight: train.distill.temperature, .weight).")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), help="Continue the training run in RUN_DIR.")
@click.option("--top-k", "top_k", type=click.IntRange(1, 10_000), metavar="K",
              help="TARGET is a search's run directory: retrain its K best architectures, each in a run directory "
                   "of its own, through the config's executor (serial by default; executor: {name: ray} runs them "
                   "as Ray tasks).")
def train(target: str | None, config_file: Path | None, overrides: tuple[str, ...], dataset: str | None,
          epochs: int | None, batch_size: int | None, lr: float | None, device: str | None, threads: int | None,
          output: str | None, name: str | None, init: str | None, init_mode: str | None, teacher: str | None,
          resume_dir: Path | None, top_k: int | None = None) -> None:
    """Train TARGET: an architecture file from a search, or a registered model name; from scratch, or from the
    weights of --init PATH.

    Validates every epoch, keeps best.pt (best validation score) and checkpoint.pt (last epoch) in the run
    directory, and continues a killed run with --resume RUN_DIR.
    """
    from gasnas.api import RichReporter, console, table, warning_rows
    from gasnas.api import get_plugin_manager
    from gasnas.api import RunDirectory, setup_distributed, shutdown_distributed
    from gasnas_plugins.training.config import TrainConfig, load_train_config

    pm = get_plugin_manager()
    dist = setup_distributed()  # torchrun: one process per device (a no-op otherwise)
    if top_k is not None and resume_dir is not None:
        raise click.UsageError("--top-k starts K trainings; continue each killed one with --resume RUN_DIR")
    if resume_dir is not None:
        if (target or config_file or overrides or dataset or epochs or batch_size or lr or output or name or init
                or init_mode or teacher):
            raise click.UsageError("--resume continues a run with its own config; pass only RUN_DIR (and --device, "
                                   "--threads)")
        if not (resume_dir / "config.yaml").is_file():
            from gasnas.api import CheckpointError

            raise CheckpointError(f"{resume_dir}: not a gasnas train run directory (no config.yaml)")
        config = TrainConfig.from_run(resume_dir, pm)
        run_dir = RunDirectory(resume_dir, writable=dist.is_main)
    else:
        if not target:
            raise click.UsageError("missing TARGET: an architecture file (e.g. runs/<search>/architecture.yaml) or "
                                   "a registered model name (see gasnas plugins)")
        shorthands = [f"dataset.name={dataset}"] if dataset else []
        shorthands += [f"train.{k}={v}" for k, v in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr))
                       if v is not None]
        shorthands += [f"{k}={v}" for k, v in (("output", output), ("name", name)) if v]
        shorthands += [f"train.{k}={json.dumps(v)}" for k, v in (("init", init), ("init_mode", init_mode)) if v]
        shorthands += [f"train.distill.teacher={json.dumps(teacher)}"] if teacher else []
        if top_k is not None:
            from gasnas_plugins.commands.train_many import run_top_k

            return run_top_k(Path(target), top_k, config_file, [*overrides, *shorthands], device, threads)
        config = load_train_config(target, config_file, [*overrides, *shorthands], pm=pm)
        run_name = config.name or f"{time.strftime('%Y%m%d-%H%M%S')}-train-{config.target.slug}"
        # under torchrun rank 0 names and creates the run directory, and alone writes in it
        run_dir = RunDirectory(dist.from_main(lambda: RunDirectory.create(config.output, run_name).path),
                               writable=dist.is_main)
        run_dir.write_config(config)

    from gasnas_plugins.training.trainer import Trainer

    trainer = Trainer(config, run_dir, pm=pm, reporter=RichReporter(), device=device, threads=threads,
                      resume=resume_dir is not None)
    if dist.is_main:
        console.print(f"training {config.target.describe()} on [bold]{config.dataset.name}[/] -> {run_dir.path}",
                      soft_wrap=True)
        console.print(f"computing on {trainer.device} with {trainer.threads}", markup=False, soft_wrap=True)
    result = trainer.fit()
    shutdown_distributed()
    if not dist.is_main:  # under torchrun, rank 0 reports
        return
    files = dict(result.files)
    curves = _curves(run_dir)
    if curves is not None:
        files["curves"] = curves
    rows = [(f"best {result.metric}", f"{result.best:.4f} (epoch {result.best_epoch + 1})")]
    if result.background is not None:
        rows += [(f"all-background {result.metric}", f"{result.background:.4f}")]
    rows += [(k, v) for k, v in result.last.items() if k != "elapsed_s"]
    rows += [("time", f"{result.elapsed_s:.1f} s")]
    rows += [(f"file: {k}", str(v)) for k, v in files.items()]
    rows += warning_rows(result.warnings)
    run_dir.write_text("summary.json", _summary(result, files))
    flagged = f" with {len(result.warnings)} warning(s)" if result.warnings else ""
    console.print(table(f"training finished{flagged}: {run_dir.path}", ["", ""], rows))
    console.print(f"next: [bold]gasnas eval {files['best']}[/]", soft_wrap=True)


def _curves(run_dir) -> Path | None:
    from gasnas_plugins.callbacks.curves import draw_curves

    if not run_dir.metrics_file.is_file():
        return None
    return draw_curves(run_dir.metrics_file, run_dir.path / "curves.png")


def _summary(result, files) -> str:
    return json.dumps({"metric": result.metric, "best": result.best, "best_epoch": result.best_epoch,
                       "background": result.background, "last": result.last, "elapsed_s": result.elapsed_s,
                       "files": {k: str(v) for k, v in files.items()}, "warnings": result.warnings},
                      indent=2, default=str)
