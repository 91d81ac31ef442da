"""The search-step profile (benchmarks/search_profile.py) accounts for a whole step, phase by phase, tiny, on the
CPU. No speed is asserted: the figures belong to the benchmark."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "search_profile.py"


@pytest.fixture
def search_profile(monkeypatch):
    spec = importlib.util.spec_from_file_location("search_profile", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "search_profile", module)  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_quick_profile_reports_every_phase_and_they_add_up_to_the_step(search_profile, tmp_path):
    backward, grad = torch.Tensor.backward, torch.autograd.grad
    threads = torch.get_num_threads()
    out = tmp_path / "profile.json"
    try:
        results = search_profile.main(["--quick", "--steps", "1", "--warmup", "0", "--size", "32", "64",
                                       "--batch", "2", "--json", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert torch.Tensor.backward is backward and torch.autograd.grad is grad  # the instrumentation is undone
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    assert sorted(results) == ["gas-paper", "gas-tiny"]
    expected = [f"{part}: {phase}" for part, phase in search_profile.ORDER]
    for name, result in results.items():
        phases = {row["phase"]: row for row in result["phases"]}
        assert list(phases) == expected, name  # the sampled relaxation's step runs every phase, in this order
        assert all(row["ms"] >= 0 and row["peak_mib"] >= 0 for row in phases.values()), name
        assert result["step_ms"] > 0
        assert sum(row["ms"] for row in phases.values()) == pytest.approx(result["step_ms"], rel=0.05, abs=2.0)
        assert sum(row["share"] for row in phases.values()) == pytest.approx(1.0, abs=0.05)
        for phase in ("arch: forward", "weight: forward", "weight: backward"):
            assert phases[phase]["ms"] > 0, (name, phase)
        # the weight step keeps activations for its backward (and its optimizer creates momentum buffers for the
        # drawn path's weights: which phase peaks depends on the path): its peak is the step's, above the no-grad
        # paths'
        weight = max(row["peak_mib"] for phase, row in phases.items() if phase.startswith("weight: "))
        assert weight == pytest.approx(result["step_peak_mib"])
        assert phases["weight: backward"]["peak_mib"] > phases["arch: forward"]["peak_mib"] > 0
        operators = result["top_operators"]
        assert len(operators) == 5 and not any(op["operator"].startswith("gasnas/") for op in operators)
        assert [op["self_cpu_ms"] for op in operators] == sorted((op["self_cpu_ms"] for op in operators),
                                                                  reverse=True)
