"""Configs that extend others (``base: other.yaml``): deep merge, where errors point, loops, limits, and run
directories that keep the merged config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gasnas.config import MAX_BASE_FILES, MAX_YAML_BYTES, load_config, read_config
from gasnas.engine import Engine
from gasnas.errors import ConfigError
from gasnas.reporting import NullReporter


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def child(tmp_path: Path, toy_config: Path) -> Path:
    """``exp/child.yaml`` extending the toy config through ``shared/mid.yaml``."""
    _write(tmp_path / "shared" / "mid.yaml", "base: ../toy.yaml\nseed: 5\nbudget: {epochs: 2}\n")
    return _write(tmp_path / "exp" / "child.yaml", "base: ../shared/mid.yaml\nstrategy: {params: {per_epoch: 1}}\n")


def test_a_config_deep_merges_over_its_chain_of_bases(child, toy_config):
    config = load_config(child)
    assert config.seed == 5  # from mid.yaml
    assert (config.budget.epochs, config.budget.batch_size) == (2, 4)  # mid.yaml's epochs, the toy's batch size
    assert (config.strategy.name, config.strategy.params.per_epoch) == ("random", 1)  # merged key by key
    assert config.dataset.params.size == 16  # untouched sections come from the root
    assert config.bases == (str(toy_config), str(child.parent.parent / "shared" / "mid.yaml"))
    assert config.source == str(child)


def test_lists_and_scalars_replace_and_null_drops_an_optional_section(tmp_path, toy_config):
    _write(tmp_path / "a.yaml", "base: toy.yaml\nlatency: {name: flops, target: 2.0}\n"
                                "evaluator: {name: segmentation, params: {scales: [1.0, 2.0]}}\n")
    _write(tmp_path / "b.yaml", "base: a.yaml\nevaluator: {params: {scales: [0.5]}}\n")
    assert load_config(tmp_path / "b.yaml").evaluator.params.scales == (0.5,)
    assert load_config(tmp_path / "a.yaml").latency.name == "flops"
    _write(tmp_path / "c.yaml", "base: a.yaml\nlatency: null\n")
    assert load_config(tmp_path / "c.yaml").latency is None


def test_several_bases_merge_in_order_then_the_file(tmp_path, toy_config):
    _write(tmp_path / "one.yaml", "seed: 1\nbudget: {epochs: 1}\n")
    _write(tmp_path / "two.yaml", "seed: 2\n")
    path = _write(tmp_path / "top.yaml", "base: [toy.yaml, one.yaml, two.yaml]\nbudget: {batch_size: 2}\n")
    config = load_config(path)
    assert (config.seed, config.budget.epochs, config.budget.batch_size) == (2, 1, 2)
    assert [Path(b).name for b in config.bases] == ["toy.yaml", "one.yaml", "two.yaml"]


def test_a_section_naming_another_component_replaces_the_base_section(tmp_path, toy_config):
    """The base's params belong to its own component: another name starts from the new one's defaults."""
    _write(tmp_path / "base.yaml", "base: toy.yaml\nstrategy: {name: random, params: {per_epoch: 7}}\n")
    other = _write(tmp_path / "other.yaml", "base: base.yaml\nstrategy: random-search\n")
    assert load_config(other).strategy.name == "random-search"
    same = _write(tmp_path / "same.yaml", "base: base.yaml\nstrategy: random\n")
    assert load_config(same).strategy.params.per_epoch == 7  # the shorthand of the same name keeps the params


def test_an_error_names_the_file_and_line_the_key_came_from(tmp_path, toy_config):
    _write(tmp_path / "base.yaml", "base: toy.yaml\nseed: 1\nbudget:\n  epoks: 2\n")
    path = _write(tmp_path / "top.yaml", "base: base.yaml\nseed: 4\n")
    with pytest.raises(ConfigError, match=r"base.yaml:4: budget: unknown key 'epoks' \(did you mean 'epochs'\?\)"):
        load_config(path)
    _write(tmp_path / "base.yaml", "base: toy.yaml\nbudget: {epochs: 3}\n")
    _write(tmp_path / "top.yaml", "base: base.yaml\nseed: 4\nbudget: {epochs: 0}\n")
    with pytest.raises(ConfigError, match=r"top.yaml:3: budget.epochs: 0 is out of range"):
        load_config(path)


def test_missing_bases_and_loops_are_errors_naming_the_chain(tmp_path, toy_config):
    _write(tmp_path / "a.yaml", "base: sub/b.yaml\n")
    _write(tmp_path / "sub" / "b.yaml", "base: ../c.yaml\n")
    with pytest.raises(ConfigError) as missing:
        load_config(tmp_path / "a.yaml")
    message = str(missing.value)
    assert "b.yaml:1: base: base config '../c.yaml' not found" in message
    assert f"chain: {tmp_path / 'a.yaml'} -> {tmp_path / 'sub' / 'b.yaml'} -> {tmp_path / 'c.yaml'}" in message
    _write(tmp_path / "c.yaml", "base: [toy.yaml, a.yaml]\n")
    with pytest.raises(ConfigError, match=r"c.yaml:1: base.1: 'a.yaml' closes a loop of bases: .*a.yaml -> "
                                          r".*b.yaml -> .*c.yaml -> .*a.yaml"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="expected the file this config extends"):
        load_config(_write(tmp_path / "d.yaml", "base: {file: toy.yaml}\n"))


def test_every_file_of_the_chain_keeps_the_limits(tmp_path, toy_config):
    _write(tmp_path / "big.yaml", "seed: 1\n" + "#" * MAX_YAML_BYTES)
    with pytest.raises(ConfigError, match="big.yaml: .* bytes is too large for a config"):
        load_config(_write(tmp_path / "top.yaml", "base: big.yaml\n"))
    laughs = "{" + ", ".join(f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10) if i else '1'}]" for i in range(9))
    _write(tmp_path / "laughs.yaml", f"seed: 1\nx: {laughs}}}\n")
    with pytest.raises(ConfigError, match="laughs.yaml: the YAML expands to more than"):
        load_config(_write(tmp_path / "top.yaml", "base: laughs.yaml\n"))
    # a diamond of bases doubles the reads at each level: the count is bounded, not the memory
    for i in range(12):
        _write(tmp_path / f"d{i}.yaml", f"base: [d{i + 1}.yaml, d{i + 1}.yaml]\n" if i < 11 else "seed: 1\n")
    with pytest.raises(ConfigError, match=f"more than {MAX_BASE_FILES} files in the bases"):
        load_config(tmp_path / "d0.yaml")


def test_base_is_not_an_override(toy_config):
    with pytest.raises(ConfigError, match="base: a config's bases are merged when the file is read"):
        load_config(toy_config, ["base=other.yaml"])


def test_a_file_without_bases_reads_as_before(toy_config):
    data, where = read_config(toy_config)
    assert "base" not in data and where.bases == () and where.files == {}


def test_the_run_directory_keeps_the_merged_config(child, tmp_path):
    """A run's config.yaml is self-contained: it resumes, with the same digest, after the bases are gone."""
    config = load_config(child)
    engine = Engine(config, reporter=NullReporter())
    engine.run()
    saved = engine.run_dir.path / "config.yaml"
    assert "base" not in yaml.safe_load(saved.read_text())
    (tmp_path / "shared" / "mid.yaml").unlink()
    assert load_config(saved).digest == config.digest
    assert Engine.resume(engine.run_dir.path, reporter=NullReporter()).config.seed == 5


def test_config_check_shows_the_chain(cli, child, toy_config):
    result = cli("config", "check", str(child))
    assert result.exit_code == 0, result.output
    head = result.output.splitlines()[:4]
    assert head == ["# merged from (later files win):", f"#   {toy_config}",
                    f"#   {child.parent.parent / 'shared' / 'mid.yaml'}", f"#   {child}"]
    assert yaml.safe_load(result.output)["budget"]["epochs"] == 2
    plain = cli("config", "check", str(toy_config))
    assert not plain.output.startswith("#")
