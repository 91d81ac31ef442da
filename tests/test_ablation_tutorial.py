"""docs/tutorials/gas-ablation.md: its commands run as written (shortened), and its benchmark knows its settings."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "tutorials" / "gas-ablation.md"
#: appended so that the commands run in seconds; the latency table is timed once, briefly, and nothing measured
FAST = {"search": ["--set", "budget.epochs=3", "--set", "budget.steps_per_epoch=1", "--set", "budget.batch_size=2",
                   "--set", "strategy.params.warmup_epochs=1", "--set", "strategy.params.val_batches=1",
                   "--set", "latency.params.repeats=1", "--set", "latency.params.warmup=0",
                   "--set", "latency.params.calibrate=0", "--set", "latency.measure=null"],
        "train": ["--epochs", "1", "--set", "train.steps_per_epoch=1", "--set", "train.batch_size=2"]}
BENCHMARKS = ("benchmarks/search_quality.py", "benchmarks/digit_scenes.py",
              "benchmarks/supernet_ranking.py")


def _commands() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", PAGE.read_text(), re.S)
    return [shlex.split(line) for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.mark.slow
def test_the_tutorial_commands_run(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran = []
    for argv in _commands():
        if argv[0] == "gasnas":
            result = cli(*argv[1:], *FAST[argv[1]])
            assert result.exit_code == 0, f"{shlex.join(argv)}\n{result.output}"
            ran.append(argv[1])
        elif argv[0] == "python" and argv[1] in BENCHMARKS:  # hours: only that it starts and takes its options
            out = subprocess.run([sys.executable, str(ROOT / argv[1]), "--help"], capture_output=True, text=True)
            assert out.returncode == 0, out.stderr
            assert all(a.split("=")[0] in out.stdout for a in argv[2:] if a.startswith("--")), out.stdout
        else:
            pytest.fail(f"the test does not know how to run {shlex.join(argv)}")
    assert ran.count("search") >= 3 and "train" in ran
    assert sorted(p.parent.name for p in Path("runs").glob("*/architecture.yaml"))[:3] == ["gcn", "no-gcn", "target-0.8"]


def test_the_settings_the_page_names_are_the_benchmarks():
    import importlib.util

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("search_quality", ROOT / "benchmarks" / "search_quality.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    text = PAGE.read_text()
    assert all(f"### {name}" in text for name in module.SETTINGS), "the results miss a setting"
    assert "target adherence" in text
