from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _command(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(rf"<!-- {marker} -->\n```bash\n(.*?)\n```\n<!-- /{marker} -->", text, re.S)
    assert block, f"README.md has no {marker} block"
    return block.group(1)


def test_readme_has_exactly_two_setup_commands():
    main, test = _command("main-command"), _command("test-command")
    assert "gasnas search" in main and "pip install" in main
    assert "pytest" in test and "examples/third_party_plugin" in test and "[dev" in test
    assert "\n" not in main and "\n" not in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci and "venv" in ci
