"""examples/configs: the quickstart (the same file gasnas ships), paper-scale configs, and one-section swaps."""

from __future__ import annotations

import pytest
import yaml

from gasnas.architecture import Architecture
from gasnas.config import default_config_path, load_config

from examples_support import EXAMPLES, TINY

CONFIGS = EXAMPLES / "configs"
#: swap config -> the one section in which it differs from the quickstart
SWAPS = {"quickstart-evolution.yaml": "strategy", "quickstart-flops.yaml": "latency"}


def test_the_example_quickstart_is_the_shipped_one():
    assert (CONFIGS / "quickstart.yaml").read_text() == default_config_path().read_text(), \
        "copy plugins/configs/quickstart.yaml to examples/configs/quickstart.yaml"


@pytest.mark.parametrize("name", sorted(SWAPS))
def test_a_swap_config_differs_from_the_quickstart_in_one_section(name):
    base = yaml.safe_load((CONFIGS / "quickstart.yaml").read_text())
    swap = yaml.safe_load((CONFIGS / name).read_text())
    assert set(base) == set(swap)
    assert [k for k in base if base[k] != swap[k]] == [SWAPS[name]]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_config_is_valid(path, pm):
    config = load_config(path, pm=pm)
    if path.name.startswith(("cityscapes", "camvid")):
        assert config.space.params.preset == "gas-paper" and config.latency.target_ms is not None


def _search(cli, tmp_path, config, *overrides):
    result = cli("search", str(config), "--output", str(tmp_path / "runs"), "--name", "run", *TINY, *overrides)
    assert result.exit_code == 0, result.output
    return Architecture.load(tmp_path / "runs" / "run" / "architecture.yaml")


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [
    pytest.param(["--set", "strategy=evolution"], id="strategy: evolution"),
    pytest.param(["--set", "latency.name=flops", "--set", "latency.params=null"], id="latency: flops"),
])
def test_swapping_the_quickstart_strategy_or_estimator_needs_no_other_change(cli, pm, tmp_path, overrides):
    arch = _search(cli, tmp_path, CONFIGS / "quickstart.yaml", *overrides)
    assert arch.space_name == "gas" and arch.metadata["estimated_latency"] > 0
    assert arch.metadata["measured_latency"] > 0  # latency.measure is untouched
    if "strategy=evolution" in overrides:
        assert (tmp_path / "runs" / "run" / "pareto.png").is_file()
    else:
        assert arch.metadata["estimated_latency_unit"] == "GMACs"


@pytest.mark.slow
@pytest.mark.parametrize("config,overrides", [
    pytest.param("quickstart-flops.yaml", [], id="differentiable+flops"),
    # the torch estimator times each whole network (64 for the relative target): few repeats keep it short
    pytest.param("quickstart-evolution.yaml", ["--set", "latency.name=torch",
                                               "--set", "latency.params={threads: 1, warmup: 1, repeats: 3}",
                                               "--set", "strategy.params.population=4",
                                               "--set", "strategy.params.limit_samples=4"], id="evolution+torch"),
])
def test_the_swap_configs_run(cli, pm, tmp_path, config, overrides):
    arch = _search(cli, tmp_path, CONFIGS / config, *overrides)
    assert arch.metadata["estimated_latency"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("space,label", [("fasterseg", "/width"), ("dcnas", "/inputs")])
def test_the_multi_scale_space_configs_run(cli, pm, tmp_path, space, label):
    arch = _search(cli, tmp_path, CONFIGS / f"{space}-tiny.yaml")
    assert arch.space_name == space and arch.metadata["estimated_latency"] > 0
    assert any(name.endswith(label) for name in arch.sample)
    assert (tmp_path / "runs" / "run" / "cells" / "paths.png").is_file()
