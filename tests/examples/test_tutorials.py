"""The tutorials show the examples' files (included with pymdownx.snippets) and their commands run as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from examples_support import EXAMPLES, ROOT, require_installed

TUTORIALS = {"write-a-search-space.md": "custom_space", "write-a-strategy.md": "custom_strategy",
             "write-a-latency-estimator.md": "custom_estimator"}
#: appended to the tutorials' commands so that they run in seconds
FAST = {"search": ["--set", "budget.epochs=3", "--set", "budget.steps_per_epoch=1", "--set", "budget.batch_size=2"],
        "train": ["--epochs", "1", "--set", "train.steps_per_epoch=1", "--set", "train.batch_size=2"]}


def _page(name: str) -> str:
    return (ROOT / "docs" / "tutorials" / name).read_text()


@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_a_tutorial_includes_every_file_of_its_example(name):
    included = re.findall(r'^--8<-- "([^"]+)"$', _page(name), re.M)
    assert all((ROOT / path).is_file() for path in included)
    folder = EXAMPLES / TUTORIALS[name]
    files = [p for p in folder.rglob("*") if p.suffix in (".py", ".toml", ".yaml") and "egg-info" not in str(p)
             and "__pycache__" not in p.parts and p.name != "__init__.py"]
    missing = sorted(str(p.relative_to(ROOT)) for p in files if str(p.relative_to(ROOT)) not in included)
    assert not missing, f"{name} does not show {missing}"


def _commands(name: str) -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", _page(name), re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_the_tutorial_commands_run(name, cli, pm, tmp_path, monkeypatch):
    (tmp_path / "examples").symlink_to(EXAMPLES)  # the commands name examples/... from the source tree's root
    monkeypatch.chdir(tmp_path)
    commands = _commands(name)
    assert commands
    for argv in commands:
        if argv[:2] == ["pip", "install"]:  # installed by the README's test command
            require_installed({"custom_space": "encdec", "custom_strategy": "random-search",
                               "custom_estimator": "device-table"}[TUTORIALS[name]])
        elif argv[0] == "gasnas":
            extra = FAST.get(argv[1], []) if "--resume" not in argv else []
            result = cli(*argv[1:], *extra)
            assert result.exit_code == 0, f"{shlex.join(argv)}\n{result.output}"
        elif argv[0] == "python":
            out = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True)
            assert out.returncode == 0, f"{shlex.join(argv)}\n{out.stdout}{out.stderr}"
        else:
            pytest.fail(f"{name}: the test does not know how to run {shlex.join(argv)}")
    assert list(Path("runs").glob("*/architecture.yaml"))


@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_the_example_readme_gives_the_tutorial_commands(name):
    readme = (EXAMPLES / TUTORIALS[name] / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    assert [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()] == _commands(name)
