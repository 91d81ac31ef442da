"""examples/nni_space: an NNI model space moved into gasnas; its README's commands run as written, and the docs
page "Coming from NNI" shows every file of it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from examples_support import EXAMPLES, ROOT
from gasnas_plugins.nni_support import available

pytestmark = [pytest.mark.nni, pytest.mark.skipif(not available(), reason="needs the nni extra: gasnas[nni]"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning:nni.nas.nn.pytorch.layers")]

FOLDER = EXAMPLES / "nni_space"
#: appended to the commands so that they run in seconds
FAST = {"search": ["--set", "budget.epochs=2", "--set", "budget.steps_per_epoch=1", "--set", "budget.batch_size=2",
                   "--set", "latency.measure=null"],
        "train": ["--epochs", "1", "--set", "train.steps_per_epoch=1", "--set", "train.batch_size=2"]}


def _commands(text: str) -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()]


def test_the_docs_page_shows_every_file_and_the_readme_commands():
    page = (ROOT / "docs" / "nni.md").read_text()
    included = re.findall(r'^--8<-- "([^"]+)"$', page, re.M)
    files = sorted(str(p.relative_to(ROOT)) for p in FOLDER.iterdir() if p.suffix in (".py", ".yaml"))
    assert sorted(included) == files
    section = page.split("## The commands", 1)[1].split("\n## ", 1)[0]
    assert _commands((FOLDER / "README.md").read_text()) == _commands(section)


def test_the_pages_python_runs(capsys):
    page = (ROOT / "docs" / "nni.md").read_text()
    blocks = [code for code in re.findall(r"```python\n(.*?)```", page, re.S) if "--8<--" not in code]
    assert blocks
    for code in blocks:
        exec(compile(code, "<docs/nni.md>", "exec"), {})
    assert "cell0/op_2_0" in capsys.readouterr().out


@pytest.mark.slow
def test_the_readme_commands_run(cli, pm, tmp_path, monkeypatch):
    (tmp_path / "examples").symlink_to(EXAMPLES)  # the commands name examples/... from the source tree's root
    monkeypatch.chdir(tmp_path)
    for argv in _commands((FOLDER / "README.md").read_text()):
        env = {}
        while argv and re.match(r"^[A-Z_]+=", argv[0]):
            key, _, value = argv.pop(0).partition("=")
            env[key] = value
        if argv[:2] == ["pip", "install"]:
            continue  # the README's test command installs the nni extra
        if argv[0] == "gasnas":
            monkeypatch.syspath_prepend(str(tmp_path / env["PYTHONPATH"]))
            result = cli(*argv[1:], *FAST.get(argv[1], []))
            assert result.exit_code == 0, f"{shlex.join(argv)}\n{result.output}"
        elif argv[0] == "python":
            out = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True,
                                 env={**os.environ, **env})
            assert out.returncode == 0, f"{shlex.join(argv)}\n{out.stdout}{out.stderr}"
            assert "torch.Size([1, 11, 64, 128])" in out.stdout
        else:
            pytest.fail(f"the test does not know how to run {shlex.join(argv)}")
