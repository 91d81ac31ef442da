"""The docs quote the README's two commands exactly, and the CLI reference shows only the commands gasnas ships:
the core's and the default plugins' (each marked with its plugin), never those of another installed plugin."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import click
from test_readme import _command as _readme_command

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(page: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "docs" / page).read_text(), re.S)


def test_the_docs_quote_the_readme_commands_exactly():
    assert _readme_command("main-command") in _bash_blocks("quickstart.md")
    assert _readme_command("test-command") in _bash_blocks("development.md")


def test_the_development_page_gives_no_other_full_test_command():
    """An older copy of the test command (other install steps) is what this test exists to catch."""
    test = _readme_command("test-command")
    for page in (ROOT / "docs").rglob("*.md"):
        for block in re.findall(r"```bash\n(.*?)\n```", page.read_text(), re.S):
            for line in block.splitlines():
                if "pip install" in line and line.rstrip().endswith("python -m pytest"):
                    assert line == test, f"{page.relative_to(ROOT)} quotes another test command: {line}"


def _reference() -> str:
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._cli()


def test_the_cli_reference_lists_the_shipped_commands_only(register):
    from gasnas.cli import main
    from gasnas.plugins import PluginManager

    @click.command("not-shipped")
    def not_shipped() -> None:
        """A command of a third-party plugin."""

    class ThirdParty:
        from gasnas import hookimpl

        @hookimpl
        def gasnas_register_commands(self, registry):
            registry.add(not_shipped)

    register(ThirdParty(), name="third-party")  # installed in this process, as the example plugin may be
    text = _reference()
    shown = set(re.findall(r"^## `gasnas ([^ `]+)`", text, re.M))
    shipped = {c.name: c.plugin for c in PluginManager(entry_points=False).registry("commands")}
    assert shown == set(main.commands) | set(shipped)
    assert "not-shipped" not in text
    for name, plugin in shipped.items():
        assert f"## `gasnas {name}`\n\nFrom the default plugin `{plugin}`." in text
    for name in main.commands:
        assert f"## `gasnas {name}`\n\n```text" in text  # the core's: no plugin mark
