"""The example third-party plugin (examples/third_party_plugin) is installed by the test command and is real."""

from __future__ import annotations

import csv
import importlib.metadata

import pytest

from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.reporting import NullReporter


def _installed() -> bool:
    return any(ep.name == "runs" for ep in importlib.metadata.entry_points(group="gasnas"))


def test_example_plugin_is_installed_and_listed(cli):
    assert _installed(), "install it: pip install -e examples/third_party_plugin (the README's test command does)"
    result = cli("plugins")
    assert result.exit_code == 0
    assert "runs" in result.output and "0.2.0" in result.output and "entry point" in result.output


def test_example_plugin_writes_csv_and_lists_runs(toy_config, cli, tmp_path):
    if not _installed():
        pytest.fail("examples/third_party_plugin is not installed")
    engine = Engine(load_config(toy_config), reporter=NullReporter())
    engine.run()
    rows = list(csv.reader(open(engine.run_dir.path / "metrics.csv")))
    assert rows[0][:2] == ["epoch", "best"] and len(rows) == 4
    result = cli("runs", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    assert engine.run_dir.path.name in result.output and "tiny" in result.output
    missing = cli("runs", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "no such directory" in missing.output
