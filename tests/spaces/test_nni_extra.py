"""Without the nni extra, configs naming the nni space or strategy fail with an install hint (exit 2)."""

from __future__ import annotations

import importlib.util

import pytest

from toy_scenes import GAS_CONFIG


@pytest.fixture
def without_nni(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nni" else real(name, *a))


@pytest.mark.parametrize("overrides", [
    ["space.name=nni", "space.params={space: 'mypkg.spaces:MySpace'}"],
    ["strategy.name=nni", "strategy.params={}", "communicator=null"],
])
def test_a_missing_extra_names_what_to_install(cli, tmp_path, rectangles, without_nni, overrides):
    config = tmp_path / "gas.yaml"
    config.write_text(GAS_CONFIG.format(output=tmp_path / "runs"))
    result = cli("search", str(config), *[arg for o in overrides for arg in ("--set", o)])
    assert result.exit_code == 2, result.output
    assert "the optional dependency 'nni' is not installed" in result.output
    assert "pip install 'gasnas[nni]'" in result.output
    assert "Traceback" not in result.output
