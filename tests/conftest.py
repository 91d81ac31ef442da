from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gasnas.plugins import PluginManager, set_plugin_manager

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).parent))  # tests' helper modules (toys, toy_scenes) import by name


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory) -> Iterator[Path]:
    """Caches (latency tables, generated datasets) in one temporary directory per test session."""
    path = tmp_path_factory.mktemp("gasnas-cache")
    old = os.environ.get("GASNAS_CACHE_DIR")
    os.environ["GASNAS_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GASNAS_CACHE_DIR", None)
    else:
        os.environ["GASNAS_CACHE_DIR"] = old


@pytest.fixture
def pm() -> Iterator[PluginManager]:
    """A fresh plugin manager with the default and entry-point plugins, installed as the process-wide one."""
    manager = PluginManager()
    set_plugin_manager(manager)
    yield manager
    set_plugin_manager(None)


@pytest.fixture
def register(pm: PluginManager) -> Iterator[Callable[..., str]]:
    """Register a throw-away plugin for one test: ``register(obj, name=...)``; removed afterwards."""
    added: list[str] = []

    def _register(plugin: object, name: str | None = None) -> str:
        added.append(pm.add(plugin, name=name))
        pm.check_pending()
        return added[-1]

    yield _register
    for name in added:
        pm.remove(name)


@pytest.fixture
def toys(register) -> None:
    """The toy dataset, space, strategies and evaluator of tests/toys.py."""
    from toys import ToyPlugin

    register(ToyPlugin(), name="toys")


@pytest.fixture
def toy_config(tmp_path: Path, toys) -> Path:
    from toys import TOY_CONFIG

    path = tmp_path / "toy.yaml"
    path.write_text(TOY_CONFIG.format(output=tmp_path / "runs"))
    return path


@pytest.fixture
def cli() -> Callable[..., object]:
    """Invoke the gasnas CLI in-process: ``cli("search", "x.yaml")`` -> click Result (exit code, output)."""
    from gasnas.cli import main

    def _run(*args: str, **kwargs) -> object:
        return CliRunner().invoke(main, list(args), catch_exceptions=True, **kwargs)

    return _run


@pytest.fixture
def rectangles(register) -> None:
    """The test-only rectangles dataset and mIoU evaluator of tests/toy_scenes.py."""
    import toy_scenes

    register(toy_scenes, name="toy_scenes")


@pytest.fixture
def gas_config(tmp_path: Path, rectangles) -> Path:
    """A tiny GAS search on the rectangles dataset (seconds on a CPU)."""
    from toy_scenes import GAS_CONFIG

    path = tmp_path / "gas.yaml"
    path.write_text(GAS_CONFIG.format(output=tmp_path / "runs"))
    return path
