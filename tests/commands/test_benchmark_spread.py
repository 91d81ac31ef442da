"""A benchmark whose timed calls did not take a steady time says so: in its table and its JSON."""

from __future__ import annotations

import importlib
import json
import re

import pytest

from gasnas.runtime.timing import SPREAD_WARNING, summarize

HOW = {"warmup": 1, "runtime": "torch", "device": "cpu", "threads": 1, "provider": "eager"}


def test_spread_is_the_slowest_call_over_the_fastest():
    steady = summarize([2.0, 2.1, 2.2, 2.05, 3.0], **HOW)
    assert steady.max_ms == 3.0 and steady.spread == pytest.approx(1.5) and steady.spread_warning() is None
    unsteady = summarize([1.0, 1.1, 1.2, 1.0, 10.0], **HOW)
    assert unsteady.spread == pytest.approx(10.0) and unsteady.spread >= SPREAD_WARNING
    warning = unsteady.spread_warning()
    assert warning.startswith("the 5 timed calls took 1.000 to 10.000 ms (the slowest 10.0x the fastest; median "
                              "1.100 ms)")
    assert summarize([1.0, SPREAD_WARNING], **HOW).spread_warning() is not None  # the threshold itself warns
    assert unsteady.to_dict()["spread"] == pytest.approx(10.0)


@pytest.mark.parametrize("samples, warned", [([1.0, 1.2, 1.1], False), ([1.0, 1.1, 10.0], True)])
def test_the_benchmark_table_and_json_carry_the_spread_warning(tiny_fcn, cli, tmp_path, monkeypatch, samples,
                                                               warned):
    benchmark = importlib.import_module("gasnas_plugins.commands.benchmark")  # the module, not its command
    monkeypatch.setattr(benchmark, "_time", lambda *args: summarize(samples, **HOW))  # the timings, not the clock
    out = tmp_path / "bench.json"
    result = cli("benchmark", "tiny-fcn", "--input", "1x3x32x32", "--num-classes", "3", "--device", "cpu",
                 "--json", str(out))
    assert result.exit_code == 0, result.output
    text = " ".join(re.sub(r"[│┃|]", " ", result.output).split())
    data = json.loads(out.read_text())
    assert data["max_ms"] == max(samples) and data["spread"] == pytest.approx(max(samples) / min(samples))
    assert f"spread (max / min) {max(samples) / min(samples):.2f}x" in text
    assert ("benchmark (unsteady)" in text) == warned and (" warning the 3 timed calls took" in text) == warned
    assert len(data["warnings"]) == warned
