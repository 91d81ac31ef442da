"""curves.png: one panel per metric; the normalised entropy on a fixed 0-1 axis, and no axis with an offset."""

from __future__ import annotations

import json

from matplotlib.backends.backend_agg import FigureCanvasAgg

from gasnas_plugins.callbacks.curves import curves_figure, draw_curves


def _records(epochs: int = 12) -> list[dict[str, float]]:
    # what a differentiable search records: the entropy hardly moves, the latency moves in its fifth digit
    return [{"epoch": e, "ce": 2.2 - 0.03 * e, "expected_latency_ms": 2.4651 + 2e-5 * e, "entropy": 1.0 - 0.003 * e,
             "elapsed_s": 10.0 * e} for e in range(epochs)]


def test_entropy_has_its_own_axis_from_0_to_1_and_no_axis_has_an_offset():
    fig = curves_figure(_records())
    FigureCanvasAgg(fig).draw()
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert set(panels) == {"ce", "expected_latency_ms", "entropy (normalised, 1 = uniform)"}  # no epoch, no time
    assert panels["entropy (normalised, 1 = uniform)"].get_ylim() == (0.0, 1.0)
    assert panels["ce"].get_ylim() != (0.0, 1.0)  # the others scale to their data
    for title, ax in panels.items():
        assert ax.yaxis.get_major_formatter().get_offset() == "", title  # 2.4651 reads 2.4651, not +2.465 above


def test_draw_curves_writes_the_png_and_skips_an_empty_file(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(r) + "\n" for r in _records(3)))
    assert draw_curves(metrics, tmp_path / "curves.png") == tmp_path / "curves.png"
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    metrics.write_text("")
    assert draw_curves(metrics, tmp_path / "none.png") is None
