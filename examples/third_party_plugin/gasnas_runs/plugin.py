"""The plugin module named by the entry point. It imports only click and gasnas's light core."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path

import click

from gasnas import hookimpl


def read_run(path: Path) -> dict[str, object]:
    """What a run directory says about itself (missing files give empty fields, never an error)."""
    import yaml

    row: dict[str, object] = {"run": path.name, "space": "", "strategy": "", "epochs": 0, "architecture": "",
                              "latency": ""}
    config = path / "config.yaml"
    if config.is_file():
        data = yaml.safe_load(config.read_text()) or {}
        row["space"] = (data.get("space") or {}).get("name", "")
        row["strategy"] = (data.get("strategy") or {}).get("name", "")
    metrics = path / "metrics.jsonl"
    if metrics.is_file():
        row["epochs"] = sum(1 for line in metrics.read_text().splitlines() if line.strip())
    summary = path / "summary.json"
    if summary.is_file():
        archs = json.loads(summary.read_text()).get("architectures") or [{}]
        best = archs[0]
        row["architecture"] = best.get("id", "")
        if "estimated_latency" in best:
            row["latency"] = f"{best['estimated_latency']:.3f} {best.get('estimated_latency_unit', 'ms')}"
    return row


@click.command("runs")
@click.argument("directory", default="runs", type=click.Path(path_type=Path))
def runs(directory: Path) -> None:
    """List the run directories under DIRECTORY (default: runs)."""
    from rich.table import Table

    from gasnas.api import console
    from gasnas.api import GasnasError

    if not directory.is_dir():
        raise GasnasError(f"{directory}: no such directory of runs")
    rows = [read_run(p) for p in sorted(directory.iterdir()) if (p / "config.yaml").is_file()]
    table = Table(title=f"runs in {directory}")
    for column in ("run", "space", "strategy", "epochs", "architecture", "latency"):
        table.add_column(column, no_wrap=column in ("run", "architecture"))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@hookimpl
def gasnas_register_commands(registry) -> None:
    registry.add(runs)


@hookimpl
def gasnas_epoch_ended(run, epoch: int, metrics: Mapping[str, float]) -> None:
    path = Path(run.directory) / "metrics.csv"
    new = not path.exists() or epoch == 0
    with open(path, "w" if new else "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(list(metrics))
        writer.writerow(list(metrics.values()))
