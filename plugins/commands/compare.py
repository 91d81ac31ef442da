"""``gasnas compare RUN_OR_MODEL...``: the latency-mIoU plane of trained runs and models, Pareto front marked.

Every network is timed here, one after the other, with the same runtime, device, thread count and input shape,
so the latencies are comparable; the mIoU of a training run is the validation score of its ``best.pt``.
Registered model names and architecture files (untrained) are timed too and drawn as latency ticks. The
measurements go to a JSON file that ``--replot`` draws again without timing anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from gasnas_plugins.commands.shapes import parse_shape

__all__ = ["compare", "Entry", "pareto_front", "front_of", "place_labels", "draw_plane"]

DEFAULT_INPUT = (1, 3, 512, 1024)
KIND_STYLE = {"model": ("tab:blue", "o", "zoo model"), "architecture": ("tab:red", "*", "searched network")}


@dataclass
class Entry:
    """One network on the plane: its latency, and its mIoU when it was trained."""

    label: str
    kind: str  # "model" (registered) or "architecture" (searched)
    source: str
    latency_ms: float
    miou: float | None = None
    params: int = 0
    gmacs: float = 0.0
    timing: dict[str, Any] = field(default_factory=dict)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower latency x, higher accuracy y), by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def front_of(entries: Sequence[Entry]) -> list[Entry]:
    """The entries with an mIoU that are on the Pareto front, fastest first."""
    scored = [e for e in entries if e.miou is not None]
    return [scored[i] for i in pareto_front([(e.latency_ms, e.miou) for e in scored])]


def place_labels(anchors: Sequence[tuple[float, float]], widths: Sequence[float], height: float,
                 gap: tuple[float, float] = (6.0, 4.0)) -> list[tuple[float, float]]:
    """Offsets (in points) that keep labels from overlapping: each label starts up and to the right of its
    anchor (``anchors`` in points) and moves up, then down, a line at a time until its box is free."""
    placed: list[tuple[float, float, float, float]] = []
    offsets: list[tuple[float, float]] = []
    for (x, y), width in zip(anchors, widths):
        for step in range(200):
            dy = gap[1] + height * ((step + 1) // 2) * (1 if step % 2 else -1) if step else gap[1]
            box = (x + gap[0], y + dy, x + gap[0] + width, y + dy + height)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        offsets.append((gap[0], dy))
    return offsets


def draw_plane(entries: Sequence[Entry], path: Path, title: str, metric: str = "mIoU") -> Path:
    """Latency (x) against mIoU (y) as a PNG; the Pareto front is a step line, untrained networks are x ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [e for e in entries if e.miou is not None]
    on_front = front_of(entries)
    front = {id(e) for e in on_front}
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    for kind, (color, marker, name) in KIND_STYLE.items():
        group = [e for e in scored if e.kind == kind]
        if group:
            ax.scatter([e.latency_ms for e in group], [100 * e.miou for e in group], c=color, marker=marker,
                       s=[140 if id(e) in front else 60 for e in group], label=name, zorder=3,
                       edgecolors=["black" if id(e) in front else color for e in group])
    if on_front:
        ax.step([e.latency_ms for e in on_front], [100 * e.miou for e in on_front], where="post", color="black",
                linestyle="--", linewidth=1, label="Pareto front", zorder=2)
    ax.margins(x=0.12, y=0.12)
    ax.autoscale_view()
    to_points = 72.0 / fig.dpi
    anchors = [tuple(v * to_points for v in ax.transData.transform((e.latency_ms, 100 * e.miou))) for e in scored]
    offsets = place_labels(anchors, [0.55 * 8 * len(e.label) for e in scored], height=10.0)
    for e, offset in zip(scored, offsets):
        ax.annotate(e.label, (e.latency_ms, 100 * e.miou), textcoords="offset points", xytext=offset, fontsize=8,
                    arrowprops=None if offset[1] == 4 else {"arrowstyle": "-", "color": "gray", "lw": 0.5})
    for e in (e for e in entries if e.miou is None):
        ax.axvline(e.latency_ms, color=KIND_STYLE.get(e.kind, ("gray",))[0], alpha=0.3, linewidth=1)
        ax.annotate(f"{e.label} (untrained)", (e.latency_ms, 0.02), xycoords=("data", "axes fraction"),
                    rotation=90, fontsize=7, color="dimgray")
    ax.set_xlabel("latency (ms, median)")
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if scored:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _describe_setting(entries: Sequence[Entry], shape: Sequence[int]) -> str:
    t = entries[0].timing if entries else {}
    return (f"{t.get('runtime', '?')} ({t.get('provider', '?')}) on {t.get('device', '?')}, "
            f"{t.get('threads', '?')} thread(s), input {'x'.join(map(str, shape))}")


@click.command("compare")
@click.argument("targets", nargs=-1)
@click.option("--input", "input_shape", metavar="NxCxHxW",
              help="Input shape for every network (default: the runs' dataset input size, else 1x3x512x1024).")
@click.option("--runtime", type=click.Choice(["onnxruntime", "torch"]), default="onnxruntime", show_default=True,
              help="ONNX Runtime on the exported graph, or torch eager mode.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (auto picks CUDA if present).")
@click.option("--threads", type=click.IntRange(1, 4096), default=1, show_default=True,
              help="CPU threads, fixed for every network (1 is the most repeatable on a shared machine).")
@click.option("--warmup", type=click.IntRange(0, 10**7), default=5, show_default=True,
              help="Untimed calls per network.")
@click.option("--repeats", type=click.IntRange(1, 10**7), default=20, show_default=True,
              help="Timed calls per network (median).")
@click.option("--num-classes", type=click.IntRange(1, 100_000),
              help="Classes of model names and architectures (default: the runs', else 19).")
@click.option("--metric", default="val_miou", show_default=True, help="The run metric to plot (from best.pt).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("compare.png"), show_default=True,
              help="The PNG to write; the measurements go next to it as .json.")
@click.option("--replot", type=click.Path(path_type=Path), help="Draw a JSON written by an earlier compare again.")
def compare(targets: tuple[str, ...], input_shape: str | None, runtime: str, device: str, threads: int,
            warmup: int, repeats: int, num_classes: int | None, metric: str, output: Path,
            replot: Path | None) -> None:
    """Time TARGETS on one runtime and device and draw them on the latency-mIoU plane with the Pareto front.

    A TARGET is a training run directory or checkpoint (plotted at its validation mIoU), a registered model name
    or an architecture file (timed, drawn as a latency tick since it has no mIoU).
    """
    from gasnas.api import console, table
    from gasnas.api import GasnasError
    from gasnas.api import atomic_write_text

    if replot is not None:
        if targets:
            raise click.UsageError("--replot draws an earlier JSON; pass no TARGETS with it")
        data = _read_json(replot)
        entries, shape, title = [Entry(**e) for e in data["entries"]], data["input"], data["setting"]
    else:
        if not targets:
            raise click.UsageError("give at least one run directory, checkpoint, model name or architecture file")
        if warmup < 0 or repeats < 1 or threads < 1:
            raise click.BadParameter("--warmup must be >= 0, --repeats and --threads >= 1")
        entries, shape = _measure(targets, parse_shape(input_shape), runtime, device, threads, warmup, repeats,
                                  num_classes, metric)
        title = _describe_setting(entries, shape)
        record = {"setting": title, "input": list(shape), "metric": metric, "entries": [asdict(e) for e in entries]}
        atomic_write_text(output.with_suffix(".json"), json.dumps(record, indent=2))
    if not entries:
        raise GasnasError("nothing to compare")
    draw_plane(entries, output, f"latency vs {metric}: {title}", metric)
    front = {id(e) for e in front_of(entries)}
    rows = [(e.label, e.kind, "-" if e.miou is None else f"{100 * e.miou:.2f}", f"{e.latency_ms:.2f}",
             f"{e.params / 1e6:.2f}", f"{e.gmacs:.2f}", "yes" if id(e) in front else "")
            for e in sorted(entries, key=lambda e: e.latency_ms)]
    console.print(table(f"compare: {title}", ["network", "kind", f"{metric} %", "latency ms", "params M", "GMACs",
                                               "Pareto"], rows))
    console.print(f"wrote {output}" + ("" if replot else f" and {output.with_suffix('.json')}"), soft_wrap=True)


def _read_json(path: Path) -> dict[str, Any]:
    from gasnas.api import GasnasError

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        data = exc
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list) or "setting" not in data:
        why = f" ({type(data).__name__}: {data})" if isinstance(data, Exception) else ""
        raise GasnasError(f"{path}: not a JSON file written by gasnas compare{why}; "
                          "run gasnas compare TARGETS... to measure afresh")
    return data


def _measure(targets: Sequence[str], shape: tuple[int, ...] | None, runtime: str, device: str, threads: int,
             warmup: int, repeats: int, num_classes: int | None, metric: str) -> tuple[list[Entry], tuple[int, ...]]:
    """Resolve every target first (so a typo fails before any timing), then time them one by one."""
    from gasnas.api import RichReporter
    from gasnas.api import resolve_device
    from gasnas.api import GasnasError
    from gasnas.api import get_plugin_manager
    from gasnas_plugins.training.network import is_checkpoint_target, resolve_target

    pm = get_plugin_manager()
    runs, specs = [], []
    for target in targets:
        if is_checkpoint_target(target):
            from gasnas_plugins.training.checkpoint import load_trained

            runs.append((target, load_trained(target)))
        else:
            specs.append((target, resolve_target(target, pm)))
    sizes = {tuple(t.input_size) for _, t in runs}
    if shape is None:
        if len(sizes) > 1:
            raise GasnasError(f"the runs were trained at different input sizes {sorted(sizes)}; pick one with --input")
        shape = (1, 3, *sizes.pop()) if sizes else DEFAULT_INPUT
    classes = num_classes or (runs[0][1].num_classes if runs else 19)
    dev = str(resolve_device(device))
    jobs = [(t.spec, target, lambda t=t: t.build(pm), _score(t, metric)) for target, t in runs]
    jobs += [(spec, target, lambda s=spec: s.build(classes, pm), None) for target, spec in specs]
    labels = [spec.slug for spec, *_ in jobs]
    labels = [f"{label} ({Path(job[1]).name})" if labels.count(label) > 1 else label
              for label, job in zip(labels, jobs)]
    entries = []
    with RichReporter().progress(len(jobs), f"timing at {'x'.join(map(str, shape))}") as task:
        for label, (spec, source, build, score) in zip(labels, jobs):
            entries.append(_time_one(label, spec.kind, source, build(), score, shape, runtime, dev, threads, warmup,
                                     repeats))
            task.advance()
    return entries, shape


def _score(trained, metric: str) -> float:  # noqa: ANN001 - a TrainedNetwork
    from gasnas.api import CheckpointError

    if metric not in trained.metrics:
        known = ", ".join(sorted(trained.metrics)) or "(none)"
        raise CheckpointError(f"{trained.path}: has no metric '{metric}'; it has {known} (choose with --metric)")
    return float(trained.metrics[metric])


def _time_one(label: str, kind: str, source: str, model, score: float | None, shape: tuple[int, ...],  # noqa: ANN001
              runtime: str, device: str, threads: int, warmup: int, repeats: int) -> Entry:
    from gasnas.api import count_macs as count
    from gasnas.api import time_onnxruntime, time_torch

    model = model.eval()
    counts = count(model, shape)
    if runtime == "torch":
        timing = time_torch(model, shape, device=device, warmup=warmup, repeats=repeats, threads=threads)
    else:
        from gasnas.api import export_onnx

        timing = time_onnxruntime(export_onnx(model.to(device), shape), shape, device=device, warmup=warmup,
                                  repeats=repeats, threads=threads)
    return Entry(label, kind, source, timing.median_ms, score, counts.params, counts.gmacs, timing.to_dict())
