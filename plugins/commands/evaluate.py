"""``gasnas eval CHECKPOINT``: score a trained network; per-class IoU table, confusion matrix and predictions."""

from __future__ import annotations

from pathlib import Path

import click

from gasnas.api import threads_option

__all__ = ["evaluate"]


def _scales(value: str | None) -> tuple[float, ...] | None:
    if not value:
        return None
    try:
        scales = tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, e.g. 0.75,1,1.25; got {value!r}") from None
    if min(scales) <= 0:
        raise click.BadParameter("scales must be positive")
    return scales


@click.command("eval")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--split", default="val", show_default=True, help="The split to score.")
@click.option("--flip/--no-flip", default=None, help="Flip evaluation (default: as the run was validated).")
@click.option("--scales", help="Multi-scale evaluation, e.g. 0.75,1,1.25 (default: as the run was validated).")
@click.option("--batch-size", type=click.IntRange(1, 10**7), default=8, show_default=True, help="Images per step.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@threads_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override the stored dataset section, e.g. --set dataset.params.root=/data/cityscapes.")
@click.option("--samples", type=click.IntRange(0, 1000), default=4, show_default=True,
              help="Rows in the predictions picture.")
@click.option("--output", type=click.Path(path_type=Path), help="Folder for the pictures (default: the checkpoint's).")
def evaluate(checkpoint: Path, split: str, flip: bool | None, scales: str | None, batch_size: int, device: str,
             threads: int | None, overrides: tuple[str, ...], samples: int, output: Path | None) -> None:
    """Score CHECKPOINT (best.pt of a training run, or its run directory) on a split.

    Prints the per-class IoU, and writes eval-SPLIT-confusion.png, eval-SPLIT-predictions.png and
    eval-SPLIT.json next to the checkpoint.
    """
    import json

    from gasnas.api import RichReporter, console, table
    from gasnas.api import choose_threads, resolve_device
    from gasnas.api import atomic_write_text
    from gasnas.api import get_plugin_manager
    from gasnas_plugins.evaluators.pictures import plot_confusion, plot_predictions
    from gasnas_plugins.training.checkpoint import load_trained
    from gasnas_plugins.training.trainer import tracked, make_loader

    if batch_size < 1 or samples < 0:
        raise click.BadParameter("--batch-size must be >= 1 and --samples >= 0")
    pm = get_plugin_manager()
    trained = load_trained(checkpoint)
    dev = resolve_device(device)
    computing = choose_threads(threads).apply()
    console.print(f"computing on {dev} with {computing}", markup=False, soft_wrap=True)
    model = trained.build(pm).to(dev)
    dataset = trained.load_dataset(pm, overrides)
    evaluator = trained.load_evaluator(pm, flip=flip, scales=_scales(scales))
    data = dataset.split(split, train=False)
    loader = make_loader(data, batch_size=batch_size, train=False, seed=0)
    with RichReporter().progress(len(loader), f"evaluate {trained.spec.describe()} on {split}") as task:
        result = evaluator.evaluate(model, tracked(loader, task), dataset=dataset, device=dev)

    out_dir = output or trained.path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(dataset.class_names) or [str(c) for c in range(dataset.num_classes)]
    rows = [(name, "-" if v != v else f"{v:.4f}") for name, v in result.per_class.items()]
    rows += [(f"[bold]{k}[/]", f"[bold]{v:.4f}[/]") for k, v in result.metrics.items()]
    console.print(f"{trained.spec.describe()} on {dataset_name(trained)} {split}", soft_wrap=True)
    console.print(table("", ["class", "IoU"], rows))
    files: dict[str, Path] = {}
    if result.confusion is not None:
        files["confusion"] = plot_confusion(result.confusion.numpy(), names, out_dir / f"eval-{split}-confusion.png",
                                            title=f"confusion matrix, {split} (rows sum to 1)")
    if samples:
        files["predictions"] = _predictions(model, evaluator, dataset, data, samples, dev,
                                            out_dir / f"eval-{split}-predictions.png", plot_predictions)
    report = {"checkpoint": str(trained.path), "network": trained.spec.describe(), "split": split,
              "metrics": result.metrics, "per_class": result.per_class,
              "files": {k: str(v) for k, v in files.items()}}
    files["report"] = atomic_write_text(out_dir / f"eval-{split}.json", json.dumps(report, indent=2))
    for key, path in files.items():
        console.print(f"{key}: {path}", soft_wrap=True)


def dataset_name(trained) -> str:
    return str(trained.dataset.get("name", "?"))


def _predictions(model, evaluator, dataset, data, samples: int, device, path: Path, plot) -> Path:
    """The first ``samples`` items of ``data``: image, ground truth and prediction."""
    import torch

    count = min(samples, len(data))
    items = [data[i] for i in range(count)]
    images = torch.stack([x for x, _ in items])
    predict = getattr(evaluator, "predict", None)
    with torch.no_grad():
        scores = predict(model, images.to(device)) if predict else model(images.to(device))
    preds = scores.argmax(1).cpu().numpy()
    return plot([dataset.denormalize(x).numpy() for x, _ in items], [y.numpy() for _, y in items], list(preds),
                class_names=list(dataset.class_names), palette=list(dataset.palette),
                ignore_index=dataset.ignore_index, path=path, title=f"{len(items)} samples")
