"""``gasnas train TARGET``: train a fixed network (an architecture file or a registered model) from scratch."""

from __future__ import annotations

import time
from pathlib import Path

import click

__all__ = ["train"]


@click.command("train")
@click.argument("target", required=False)
@click.option("-c", "--config", "config_file", type=click.Path(path_type=Path),
              help="Training config YAML (sections dataset, evaluator, model, train, seed, device, output, name).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set train.lr=0.05 (repeatable).")
@click.option("--dataset", help="Dataset name (shorthand for --set dataset.name=...).")
@click.option("--epochs", type=int, help="Shorthand for --set train.epochs=N.")
@click.option("--batch-size", type=int, help="Shorthand for --set train.batch_size=N.")
@click.option("--lr", type=float, help="Shorthand for --set train.lr=X.")
@click.option("--device", help="auto, cpu, cuda or cuda:N (overrides the config).")
@click.option("--output", help="Directory for run directories (default runs).")
@click.option("--name", help="Run directory name.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), help="Continue the training run in RUN_DIR.")
def train(target: str | None, config_file: Path | None, overrides: tuple[str, ...], dataset: str | None,
          epochs: int | None, batch_size: int | None, lr: float | None, device: str | None, output: str | None,
          name: str | None, resume_dir: Path | None) -> None:
    """Train TARGET from scratch: an architecture file from a search, or a registered model name.

    Validates every epoch, keeps best.pt (best validation score) and checkpoint.pt (last epoch) in the run
    directory, and continues a killed run with --resume RUN_DIR.
    """
    from gasnas.api import RichReporter, console, table
    from gasnas.api import get_plugin_manager
    from gasnas.api import RunDirectory
    from gasnas_plugins.training.config import TrainConfig, load_train_config

    pm = get_plugin_manager()
    if resume_dir is not None:
        if target or config_file or overrides or dataset or epochs or batch_size or lr or output or name:
            raise click.UsageError("--resume continues a run with its own config; pass only RUN_DIR (and --device)")
        if not (resume_dir / "config.yaml").is_file():
            from gasnas.api import CheckpointError

            raise CheckpointError(f"{resume_dir}: not a gasnas train run directory (no config.yaml)")
        config = TrainConfig.from_run(resume_dir, pm)
        run_dir = RunDirectory(resume_dir)
    else:
        if not target:
            raise click.UsageError("missing TARGET: an architecture file (e.g. runs/<search>/architecture.yaml) or "
                                   "a registered model name (see gasnas plugins)")
        shorthands = [f"dataset.name={dataset}"] if dataset else []
        shorthands += [f"train.{k}={v}" for k, v in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr))
                       if v is not None]
        shorthands += [f"{k}={v}" for k, v in (("output", output), ("name", name)) if v]
        config = load_train_config(target, config_file, [*overrides, *shorthands], pm=pm)
        run_name = config.name or f"{time.strftime('%Y%m%d-%H%M%S')}-train-{config.target.slug}"
        run_dir = RunDirectory.create(config.output, run_name)
        run_dir.write_config(config)

    from gasnas_plugins.training.trainer import Trainer

    console.print(f"training {config.target.describe()} on [bold]{config.dataset.name}[/] -> {run_dir.path}",
                  soft_wrap=True)
    result = Trainer(config, run_dir, pm=pm, reporter=RichReporter(), device=device,
                     resume=resume_dir is not None).fit()
    files = dict(result.files)
    curves = _curves(run_dir)
    if curves is not None:
        files["curves"] = curves
    rows = [(f"best {result.metric}", f"{result.best:.4f} (epoch {result.best_epoch + 1})")]
    rows += [(k, v) for k, v in result.last.items() if k != "elapsed_s"]
    rows += [("time", f"{result.elapsed_s:.1f} s")]
    rows += [(f"file: {k}", str(v)) for k, v in files.items()]
    run_dir.write_text("summary.json", _summary(result, files))
    console.print(table(f"training finished: {run_dir.path}", ["", ""], rows))
    console.print(f"next: [bold]gasnas eval {files['best']}[/]", soft_wrap=True)


def _curves(run_dir) -> Path | None:
    from gasnas_plugins.callbacks.curves import draw_curves

    if not run_dir.metrics_file.is_file():
        return None
    return draw_curves(run_dir.metrics_file, run_dir.path / "curves.png")


def _summary(result, files) -> str:
    import json

    return json.dumps({"metric": result.metric, "best": result.best, "best_epoch": result.best_epoch,
                       "last": result.last, "elapsed_s": result.elapsed_s,
                       "files": {k: str(v) for k, v in files.items()}}, indent=2, default=str)
