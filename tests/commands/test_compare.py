"""``gasnas compare``: the Pareto front, the picture, and the command end to end on tiny training runs."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from gasnas_plugins.commands.compare import Entry, draw_plane, front_of, pareto_front

TINY_DATA = ["--set", "dataset.params.train_size=2", "--set", "dataset.params.val_size=2",
             "--set", "dataset.params.test_size=1", "--set", "train.steps_per_epoch=1"]


def test_pareto_front_keeps_points_nothing_beats_on_both_axes():
    points = [(10, 0.5), (5, 0.4), (20, 0.45), (7, 0.4), (5, 0.3), (10, 0.5), (30, 0.6)]
    assert pareto_front(points) == [1, 0, 6]  # (7, .4) ties on accuracy but is slower; the duplicate adds nothing
    assert pareto_front([]) == [] and pareto_front([(3, 0.1)]) == [0]
    entries = [Entry("slow", "model", "a", 9.0, 0.2), Entry("fast", "model", "b", 1.0, 0.3),
               Entry("untrained", "model", "c", 0.5)]
    assert [e.label for e in front_of(entries)] == ["fast"]


def test_draw_plane_writes_a_png(tmp_path):
    entries = [Entry("bisenetv2", "model", "r1", 12.0, 0.61), Entry("stdc1", "model", "r2", 9.0, 0.58),
               Entry("gas-1234", "architecture", "r3", 7.5, 0.60), Entry("stdc2", "model", "stdc2", 14.0)]
    path = draw_plane(entries, tmp_path / "plane.png", "test")
    assert Image.open(path).format == "PNG"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny training runs of the same model (at two input sizes) through ``gasnas train``."""
    from click.testing import CliRunner

    from gasnas.cli import main

    root = tmp_path_factory.mktemp("runs")
    env = {"GASNAS_CACHE_DIR": str(root / "cache")}
    for name, size in (("a", "[32,64]"), ("b", "[32,96]")):
        args = ["train", "bisenetv1-xception39", "--epochs", "1", "--batch-size", "2", "--output", str(root),
                "--name", name, "--set", f"dataset.params.size={size}", *TINY_DATA]
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 0, result.output
    return root


def test_compare_times_runs_and_models_and_replots(cli, runs, tmp_path):
    from gasnas_plugins.training.checkpoint import load_trained

    out = tmp_path / "plane.png"
    result = cli("compare", str(runs / "a"), str(runs / "b" / "best.pt"), "bisenetv2", "--input", "1x3x32x64",
                 "--warmup", "0", "--repeats", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert Image.open(out).format == "PNG"
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["input"] == [1, 3, 32, 64] and "1 thread(s)" in record["setting"]
    a, b, v2 = record["entries"]
    assert (a["label"], b["label"], v2["label"]) == ("bisenetv1-xception39 (a)", "bisenetv1-xception39 (best.pt)",
                                                     "bisenetv2")
    assert a["miou"] == load_trained(runs / "a").metrics["val_miou"] and v2["miou"] is None
    assert all(e["timing"]["threads"] == 1 and e["timing"]["runtime"] == "onnxruntime" for e in record["entries"])
    assert a["params"] == b["params"] > 0 and a["latency_ms"] > 0

    again = cli("compare", "--replot", str(out.with_suffix(".json")), "-o", str(tmp_path / "again.png"))
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.png").is_file()


def test_compare_errors_are_clear(cli, runs, tmp_path):
    mixed = cli("compare", str(runs / "a"), str(runs / "b"))
    assert mixed.exit_code == 2 and "different input sizes" in mixed.output
    metric = cli("compare", str(runs / "a"), "--metric", "val_nope", "-o", str(tmp_path / "x.png"))
    assert metric.exit_code == 2 and "has no metric 'val_nope'" in metric.output and "val_miou" in metric.output
    (tmp_path / "bad.json").write_text("[1, 2]")
    replot = cli("compare", "--replot", str(tmp_path / "bad.json"))
    assert replot.exit_code == 2 and "not a JSON file written by gasnas compare" in replot.output
    assert cli("compare").exit_code == 2
    unknown = cli("compare", "bisenet-v2")
    assert unknown.exit_code == 2 and "did you mean 'bisenetv2'" in unknown.output


def test_labels_at_one_point_are_stacked_apart():
    from gasnas_plugins.commands.compare import place_labels

    anchors = [(100.0, 100.0)] * 4 + [(400.0, 100.0)]
    offsets = place_labels(anchors, [50.0] * 5, height=10.0)
    assert offsets[0] == (6.0, 4.0) and offsets[4] == (6.0, 4.0)  # a free label stays where it starts
    boxes = [(x + dx, y + dy, x + dx + 50, y + dy + 10) for (x, y), (dx, dy) in zip(anchors, offsets)]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    assert max(abs(dy) for _, dy in offsets[:4]) <= 4.0 + 2 * 10.0  # stacked close, above and below
