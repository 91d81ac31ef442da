"""The CSV table: reading what you measured, and writing the template of what to measure."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from gasnas.api import LatencyError
from gasnas.api.space import Block, CostTerm

COLUMNS = ("block", "macs", "onnx", "ms")


def read_table(path: str | Path) -> dict[str, float]:
    """block signature -> ms; lines starting with ``#`` are comments, rows with an empty ``ms`` are skipped."""
    path = Path(path)
    if not path.is_file():
        raise LatencyError(f"{path}: device latency table not found; write one with `gasnas device-table template "
                           "CONFIG -o FILE` and fill in its ms column")
    with path.open(newline="", encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        if rows.fieldnames is None or not {"block", "ms"} <= set(rows.fieldnames):
            raise LatencyError(f"{path}: expected a CSV with the columns block and ms, got {rows.fieldnames}")
        table = {}
        for line, row in enumerate(rows, start=2):
            if not (row["ms"] or "").strip():
                continue
            try:
                table[row["block"]] = float(row["ms"])
            except ValueError:
                raise LatencyError(f"{path}:{line}: ms must be a number, got {row['ms']!r}") from None
    return table


def unique_blocks(terms: Sequence[CostTerm]) -> list[Block]:
    """Every block of ``terms`` once, in network order."""
    seen: dict[str, Block] = {}
    for term in terms:
        for candidate in term.candidates:
            for block in candidate:
                seen.setdefault(block.signature, block)
    return list(seen.values())


def write_template(blocks: Sequence[Block], path: str | Path, onnx_dir: str | Path | None = None) -> Path:
    """A CSV listing ``blocks`` (signature, MACs, ONNX file when ``onnx_dir`` is given) with an empty ms column."""
    from gasnas.api import count_macs as count

    path = Path(path)
    rows = []
    for i, block in enumerate(blocks):
        shapes = list(block.input_shapes)
        onnx = ""
        if onnx_dir is not None:
            from gasnas.api import export_onnx

            onnx = f"block{i:04d}.onnx"
            export_onnx(block.factory(), shapes if len(shapes) > 1 else shapes[0], Path(onnx_dir) / onnx)
        rows.append({"block": block.signature, "macs": count(block.factory(), shapes).macs, "onnx": onnx, "ms": ""})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        f.write("# Time each block on your device (median ms, batch 1) and fill in the ms column.\n")
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path
