"""The public door: plugins and examples reach the core through ``gasnas.api`` (and ``hookimpl`` from
``gasnas``) only; the core never imports a plugin; a plugin imports another plugin only through a documented
library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import gasnas.api as door

ROOT = Path(__file__).resolve().parents[1]
#: plugin modules other plugins may import: each is documented as a library (docs/writing-plugins.md)
LIBRARIES = (
    "gasnas_plugins.training",  # training, checkpoints and networks of `gasnas train`, used by the commands
    "gasnas_plugins.callbacks.curves",  # the training-curve picture
    "gasnas_plugins.evaluators.pictures",  # prediction pictures
    "gasnas_plugins.nni_support",  # the shared NNI library of the nni space and strategy
    "gasnas_plugins.spaces.fasterseg",  # the zoo's FasterSeg model is a network of the fasterseg space
)


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
    return out


def _through_the_door(module: str, names: list[str]) -> bool:
    if module == "gasnas.api" or module.startswith("gasnas.api."):
        return True
    return module == "gasnas" and set(names) <= {"hookimpl"}


def _files(*roots: str) -> list[Path]:
    return sorted(p for r in roots for p in (ROOT / r).rglob("*.py") if "build" not in p.parts)


def test_plugins_and_examples_import_the_core_only_through_the_door():
    wrong = [f"{p.relative_to(ROOT)}:{line}: {module}{' ' + ', '.join(names) if names else ''}"
             for p in _files("plugins", "examples") for line, module, names in _imports(p)
             if (module == "gasnas" or module.startswith("gasnas.")) and not _through_the_door(module, names)]
    assert not wrong, "import these from gasnas.api instead:\n" + "\n".join(wrong)


def test_the_core_imports_no_plugin():
    wrong = [f"{p.relative_to(ROOT)}:{line}: {module}" for p in _files("gasnas")
             for line, module, _ in _imports(p) if module.split(".")[0] == "gasnas_plugins"]
    assert not wrong, wrong


def _package_of(path: Path) -> str:
    """The plugin a file belongs to: its first folder under plugins/ (or the module, for a file there)."""
    parts = path.relative_to(ROOT / "plugins").with_suffix("").parts
    return f"gasnas_plugins.{parts[0]}"


def test_plugins_import_other_plugins_only_through_documented_libraries():
    wrong = []
    for p in _files("plugins"):
        own = _package_of(p)
        for line, module, _ in _imports(p):
            if module.split(".")[0] != "gasnas_plugins" or module == own or module.startswith(own + "."):
                continue
            if not any(module == lib or module.startswith(lib + ".") for lib in LIBRARIES):
                wrong.append(f"{p.relative_to(ROOT)}:{line}: {module}")
    assert not wrong, "a plugin reaches into another plugin's modules:\n" + "\n".join(wrong)


def test_every_name_of_the_door_resolves_and_is_documented():
    page = (ROOT / "docs" / "api" / "door.md").read_text()
    missing = [name for name in door.__all__ if f"`{name}`" not in page]
    assert not missing, f"docs/api/door.md does not list {missing}"
    for name in door.__all__:
        assert getattr(door, name) is not None
    with pytest.raises(AttributeError, match="public names are listed"):
        door.not_a_name  # noqa: B018


def test_the_door_resolves_names_lazily():
    """A registration module's `from gasnas.api import option, SUPERNET` must not import torch."""
    code = ("import sys; from gasnas.api import option, SUPERNET, ConfigError, OptionValueError, hookimpl; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_engine_implements_the_search_context_protocol():
    from gasnas.api import SearchContext
    from gasnas.engine import EngineContext

    assert SearchContext in EngineContext.__mro__
    members = [n for n in vars(SearchContext) if not n.startswith("_")] + list(SearchContext.__annotations__)
    missing = [n for n in members if n not in vars(EngineContext) and n not in EngineContext.__init__.__code__.co_names]
    assert not missing, missing
