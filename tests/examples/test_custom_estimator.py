"""examples/custom_estimator: latencies measured on a device gasnas cannot reach, from a CSV table."""

from __future__ import annotations

import csv
import random

import pytest

from gasnas.errors import LatencyError

from examples_support import require_installed

SHAPE = (1, 3, 32, 64)


@pytest.fixture
def space():
    require_installed("device-table")
    from gasnas_plugins.spaces.gas.options import GasSpaceOptions
    from gasnas_plugins.spaces.gas.space import GasSearchSpace

    return GasSearchSpace(GasSpaceOptions(cells=2, reductions=(1,), nodes=2, channels=8, stem_channels=(8, 8, 8)))


def _estimator(**params):
    from device_table.estimator import DeviceTableEstimator
    from device_table.plugin import DeviceTableOptions
    from gasnas.api.latency import LatencyEnv

    return DeviceTableEstimator(DeviceTableOptions(**params), LatencyEnv(num_classes=4))


def _filled_template(space, tmp_path, ms=lambda i: 0.1 * (i + 1)):
    from device_table.table import unique_blocks, write_template

    blocks = unique_blocks(space.cost_terms(SHAPE, None, num_classes=4))
    path = write_template(blocks, tmp_path / "blocks.csv", tmp_path / "onnx")
    with path.open() as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    for i, row in enumerate(rows):
        row["ms"] = ms(i)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path, {r["block"]: float(r["ms"]) for r in rows}, rows


def test_the_template_lists_every_block_once_with_macs_and_onnx(space, tmp_path):
    path, table, rows = _filled_template(space, tmp_path)
    assert len(table) == len(rows) and all(int(r["macs"]) >= 0 for r in rows)
    assert all((tmp_path / "onnx" / r["onnx"]).stat().st_size > 0 for r in rows)


def test_estimates_are_the_sum_of_measured_blocks_and_differentiable(space, tmp_path):
    path, table, _ = _filled_template(space, tmp_path)
    estimator = _estimator(table=str(path))
    estimator.prepare(space, SHAPE)
    sample = space.random_sample(random.Random(0))
    terms = space.cost_terms(SHAPE, sample, num_classes=4)
    by_hand = sum(t.weight * sum(table[b.signature] for b in t.candidates[0]) for t in terms)
    assert estimator.estimate(space, sample, SHAPE) == pytest.approx(by_hand)
    assert estimator.expected(space, SHAPE) is not None and "device-table" in estimator.describe()


def test_missing_blocks_and_bad_tables_are_explained(space, tmp_path):
    path, _, rows = _filled_template(space, tmp_path)
    lines = path.read_text().splitlines()
    (tmp_path / "partial.csv").write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(LatencyError, match=r"block\(s\) of this space at input 1x3x32x64 have no latency"):
        _estimator(table=str(tmp_path / "partial.csv")).prepare(space, SHAPE)
    _estimator(table=str(tmp_path / "partial.csv"), untimed="macs").prepare(space, SHAPE)  # estimated instead
    with pytest.raises(LatencyError, match="not found"):
        _estimator(table=str(tmp_path / "nowhere.csv"))
    (tmp_path / "bad.csv").write_text("name,latency\nx,1\n")
    with pytest.raises(LatencyError, match="columns block and ms"):
        _estimator(table=str(tmp_path / "bad.csv"))
    (tmp_path / "nan.csv").write_text("block,ms\nx,fast\n")
    with pytest.raises(LatencyError, match="nan.csv:2: ms must be a number"):
        _estimator(table=str(tmp_path / "nan.csv"))
    with pytest.raises(LatencyError, match="latency.params.table"):
        _estimator()
