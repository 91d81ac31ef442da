"""The GPU check script (benchmarks/gpu_check.py) runs all its steps end to end, tiny, on the CPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_dry_run_builds_checks_searches_and_compares(gpu_check, tmp_path, monkeypatch):
    monkeypatch.setenv("GASNAS_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert gpu_check.main([str(out), "--quick", "--device", "cpu"]) == 0, (out / "log.txt").read_text()[-3000:]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["architecture.yaml", "check/report.json", "check/scatter.png", "compare.json", "compare.png",
                     "gpu-table.json", "log.txt", "summary.md"]  # at most 8: what a device run can bring back
    table = json.loads((out / "gpu-table.json").read_text())
    assert table["entries"] and table["calibrations"]  # built, then calibrated by the check
    summary = (out / "summary.md").read_text()
    assert "| `lut` | calibrated |" in summary and "ground truth measured twice" in summary
    assert "| stdc2 |" in summary and "| gas-" in summary  # the zoo and the searched network, timed
    assert "build ok" in summary and "compare ok" in summary
    assert "dcnas ok" in summary and "| dcnas-paper widths, 1 layers | sampled |" in summary  # the DCNAS step


def test_a_step_out_of_time_is_recorded_and_the_rest_go_on(gpu_check, tmp_path):
    steps = gpu_check.Steps(tmp_path, budget=0)
    assert not steps.run("build", ["true"])
    assert steps.results["build"] == {"ok": False, "why": "no time left"}
    steps = gpu_check.Steps(tmp_path, budget=60)
    assert not steps.run("fails", ["python3", "-c", "raise SystemExit(3)"])
    assert steps.run("works", ["python3", "-c", "pass"])
    assert steps.results["fails"]["why"] == "exit 3" and steps.results["works"]["ok"]
