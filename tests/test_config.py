from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gasnas.config import apply_overrides, load_config, read_yaml
from gasnas.errors import ConfigError, IncompatibleComponentsError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


def _toy(toy_config: Path) -> dict:
    return yaml.safe_load(toy_config.read_text())


def test_toy_config_loads_with_defaults(toy_config):
    cfg = load_config(toy_config)
    assert cfg.strategy.name == "random" and cfg.strategy.params.per_epoch == 2
    assert cfg.budget.epochs == 3 and cfg.budget.workers == 0
    assert cfg.communicator is None and cfg.latency is None
    resolved = cfg.to_dict()
    assert resolved["strategy"]["params"]["fail_at_epoch"] is None  # defaults are written out


def test_overrides_apply_before_validation(toy_config):
    cfg = load_config(toy_config, ["strategy.params.per_epoch=5", "budget.epochs=1", "seed=9"])
    assert (cfg.strategy.params.per_epoch, cfg.budget.epochs, cfg.seed) == (5, 1, 9)
    with pytest.raises(ConfigError, match="strategy.params: unknown key 'per_epok'"):
        load_config(toy_config, ["strategy.params.per_epok=5"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(toy_config, ["budget.epochs"])


def test_digest_changes_with_content_not_output(toy_config):
    a = load_config(toy_config)
    assert a.digest == load_config(toy_config, ["output=elsewhere"]).digest
    assert a.digest != load_config(toy_config, ["seed=4"]).digest


# Each malformed config: (file text or edit, fragments the message must contain)
MALFORMED = {
    "invalid yaml": ("seed: 1\nspace: {name: tiny\n", ["bad.yaml:3:1: invalid YAML"]),
    "unknown top-level key": ({"sead": 1}, ["bad.yaml:", "sead: unknown key 'sead' (did you mean 'seed'?)"]),
    "unknown params key": ({"strategy": {"name": "random", "params": {"per_epock": 1}}},
                           ["strategy.params: unknown key 'per_epock' (did you mean 'per_epoch'?)"]),
    "wrong type": ({"budget": {"epochs": "ten"}}, ["budget.epochs: expected an integer, got 'ten'"]),
    "unknown component": ({"strategy": {"name": "randon"}},
                          ["strategy.name: unknown strategy 'randon' (did you mean 'random'?)", "available:"]),
    "incompatible pair": ({"strategy": {"name": "needs-supernet"}},
                          ["strategy.name: strategy 'needs-supernet' needs a search space with supernet",
                           "space 'tiny' offers sampling"]),
    "missing section": ({"space": None}, ["space: missing section"]),
    "section not a mapping": ({"dataset": 3}, ["dataset: expected a mapping"]),
    "bad seed type": ({"seed": "x"}, ["seed: expected an integer"]),
}


def _materialise(tmp_path: Path, toy_config: Path, edit) -> Path:
    if isinstance(edit, str):
        return _write(tmp_path, edit)
    data = _toy(toy_config)
    data.update(edit)
    return _write(tmp_path, yaml.safe_dump(data))


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_config_exits_2_with_file_and_key_path(case, tmp_path, toy_config, cli):
    edit, fragments = MALFORMED[case]
    path = _materialise(tmp_path, toy_config, edit)
    result = cli("search", str(path))
    assert result.exit_code == 2, result.output
    for fragment in fragments:
        assert fragment in result.output
    assert str(path.name) in result.output
    assert "Traceback" not in result.output


def test_missing_config_file_exits_2(cli, tmp_path):
    result = cli("search", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "nope.yaml: config file not found" in result.output
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(cli, tmp_path):
    result = cli("--debug", "search", str(tmp_path / "nope.yaml"))
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)


def test_line_numbers_point_at_the_key(tmp_path, toy_config):
    text = toy_config.read_text() + "budget2: {}\n"
    path = _write(tmp_path, text)
    n = len(text.splitlines())
    with pytest.raises(ConfigError, match=rf"bad.yaml:{n}: budget2: unknown key"):
        load_config(path)


def test_incompatible_pair_is_its_own_error(tmp_path, toy_config):
    data = _toy(toy_config)
    data["strategy"] = {"name": "needs-supernet"}
    with pytest.raises(IncompatibleComponentsError):
        load_config(_write(tmp_path, yaml.safe_dump(data)))


def test_apply_overrides_creates_nested_keys(toy_config):
    data, where = read_yaml(toy_config)
    out, _ = apply_overrides(data, ["latency.target_ms=5", "strategy.params.per_epoch=[1]"], where)
    assert out["latency"] == {"target_ms": 5}
    assert out["strategy"]["params"]["per_epoch"] == [1]
    assert data["strategy"]["params"]["per_epoch"] == 2  # the input is not modified


def test_latency_targets_absolute_or_relative_not_both(tmp_path, toy_config, pm):
    from gasnas.errors import ConfigError

    data = _toy(toy_config)
    data["latency"] = {"name": "flops", "target_relative": 0.8}
    assert load_config(_write(tmp_path, yaml.safe_dump(data)), pm=pm).latency.target_relative == 0.8
    data["latency"]["target"] = 2.0
    with pytest.raises(ConfigError, match="latency.target_relative: set one latency target, not both target and"):
        load_config(_write(tmp_path, yaml.safe_dump(data)), pm=pm)
    for bad in (0, -1, "fast", True):
        data["latency"] = {"name": "flops", "target_relative": bad}
        with pytest.raises(ConfigError, match="latency.target_relative: expected a positive fraction"):
            load_config(_write(tmp_path, yaml.safe_dump(data)), pm=pm)


def test_a_latency_target_is_in_the_estimators_unit(tmp_path, toy_config, pm):
    """flops counts GMACs: `target_ms` there is refused at load time, `target` is read in GMACs."""
    from gasnas.errors import ConfigError

    data = _toy(toy_config)
    data["latency"] = {"name": "flops", "target_ms": 2.0}
    with pytest.raises(ConfigError, match=r"latency.target_ms: latency estimator 'flops' measures GMACs, not ms"):
        load_config(_write(tmp_path, yaml.safe_dump(data)), pm=pm)
    data["latency"] = {"name": "flops", "target": 2.0}
    latency = load_config(_write(tmp_path, yaml.safe_dump(data)), pm=pm).latency
    assert (latency.target, latency.unit, latency.target_ms) == (2.0, "GMACs", None)
    assert latency.to_dict()["target"] == 2.0
    data["latency"] = {"name": "flops", "target": 2.0, "target_ms": 2.0}
    with pytest.raises(ConfigError, match="not both target and target_ms"):
        load_config(_write(tmp_path, yaml.safe_dump(data)), pm=pm)


def test_target_ms_is_the_target_of_ms_estimators(tmp_path, toy_config, pm):
    data = _toy(toy_config)
    data["latency"] = {"name": "lut", "target_ms": 2.5}
    latency = load_config(_write(tmp_path, yaml.safe_dump(data)), pm=pm).latency
    assert (latency.target, latency.unit, latency.target_ms) == (2.5, "ms", 2.5)


@pytest.mark.parametrize("key, value, message", [
    ("seed", 2**70, "seed: 1180591620717411303424 is out of range"),
    ("seed", -1, "seed: -1 is out of range"),
    ("threads", 10**12, "threads: 1000000000000 is out of range"),
    ("threads", 0, "threads: 0 is out of range"),
    ("device", "not-a-number", "device: 'not-a-number' is not a device"),
    ("device", "", "device: '' is not a device"),
    ("output", "", "output: an empty path"),
    ("output", None, "output: expected a string"),
])
def test_top_level_options_are_checked_at_load_time(tmp_path, toy_config, key, value, message):
    from gasnas.errors import ConfigError

    data = {**_toy(toy_config), key: value}
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(_write(tmp_path, yaml.safe_dump(data)))


def test_search_and_train_configs_share_the_top_level():
    import dataclasses

    from gasnas.config import RUN_KEYS, RunOptions, SearchConfig
    from gasnas_plugins.training.config import TrainConfig

    assert issubclass(SearchConfig, RunOptions) and issubclass(TrainConfig, RunOptions)
    assert RUN_KEYS == ("seed", "device", "threads", "output", "name")
    for cls in (SearchConfig, TrainConfig):
        assert {f.name for f in dataclasses.fields(cls)} >= set(RUN_KEYS)


def test_an_unset_option_does_not_change_the_digest(toy_config):
    """Null options are left out of the digest: an option added later with a null default keeps old checkpoints
    resumable; set ones count."""
    config = load_config(toy_config)
    resolved = config.to_dict()
    assert config.digest_of({**resolved, "new_option": None}) == config.digest
    assert config.digest_of({**resolved, "new_option": 1}) != config.digest
    assert load_config(toy_config, ["threads=1"]).digest == config.digest  # how many threads: not the result


def test_a_billion_laughs_is_refused_at_once(tmp_path):
    """Aliases of aliases would expand to 10**9 values: refused before anything is built."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10)}]" for i in range(1, 9)]
    path = _write(tmp_path, "\n".join(lines) + "\nseed: *a8\n")
    with pytest.raises(ConfigError, match="expands to more than 100,000 values"):
        load_config(path)
    data, where = read_yaml(_write(tmp_path, "seed: 0\n"))
    with pytest.raises(ConfigError, match="--set seed: the YAML expands"):
        apply_overrides(data, ["seed=" + "{" + ", ".join(f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10) if i else '1'}]" for i in range(9)) + "}"], where)


def test_oversized_and_deeply_nested_files_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("seed: 0\n" + "# padding\n" * 200_000)
    with pytest.raises(ConfigError, match="too large for a config"):
        load_config(big)
    deep = _write(tmp_path, "seed: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply|expected an integer"):
        load_config(deep)


def test_checkpoints_of_the_previous_digest_still_resume(toy_config):
    """Runs started before the shared top level (no `threads`, the target named `target_ms`, nulls hashed)
    carry the old digest; their config accepts it, and nothing else."""
    import hashlib
    import json

    config = load_config(toy_config, ["latency={name: flops, target: 2.0}"])
    old = config.to_dict()
    old.pop("threads")
    old.pop("executor")  # nor an executor section
    old["latency"]["target_ms"] = old["latency"].pop("target")
    blob = json.dumps({k: v for k, v in old.items() if k not in ("output", "name", "device")}, sort_keys=True,
                      default=str)
    assert config.accepts(hashlib.sha1(blob.encode()).hexdigest()[:16])
    assert config.accepts(config.digest)
    assert not config.accepts(load_config(toy_config, ["seed=5"]).digest)


@pytest.mark.parametrize(("overrides", "fragment"), [
    (["strategy.params={per_epock: 1, metrik: acc}"],
     "strategy.params: unknown keys 'per_epock' (did you mean 'per_epoch'?), 'metrik' (did you mean 'metric'?); "
     "allowed: per_epoch, fail_at_epoch, metric"),
    (["strategy={name: random, nam: x, parms: {}}"],
     "strategy: unknown keys 'nam' (did you mean 'name'?), 'parms' (did you mean 'params'?); allowed: name, params"),
    (["sead=1", "budgt={}"], "(top level): unknown keys 'sead' (did you mean 'seed'?), 'budgt' (did you mean "
                             "'budget'?)"),
])
def test_every_unknown_key_of_a_section_is_reported_at_once(toy_config, overrides, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(toy_config, overrides)
    assert fragment in str(err.value)


def _option_names(pm, kind: str, name: str) -> list[str]:
    import dataclasses

    return [f.name for f in dataclasses.fields(pm.registry(kind).get(name).options)]


def test_params_left_from_another_component_say_whose_they_are(pm):
    """The quickstart's strategy renamed, its params kept: every one is named, with the component they belong to
    and what the new one takes."""
    from gasnas.config import default_config_path

    path = default_config_path()
    text = path.read_text()
    evolution = _option_names(pm, "strategies", "evolution")
    left = [k for k in yaml.safe_load(text)["strategy"]["params"] if k not in evolution]
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip().startswith(f"{left[0]}:"))
    with pytest.raises(ConfigError) as err:
        load_config(path, ["strategy.name=evolution"])
    assert str(err.value) == (
        f"{path}:{line}: strategy.params: unknown keys {', '.join(repr(k) for k in left)}; these params belong to "
        f"strategy 'differentiable' or 'cosearch' (the name changed, the params did not: remove or replace them); "
        f"'evolution' "
        f"takes: {', '.join(evolution)}")
    with pytest.raises(ConfigError) as err:  # a typo among them keeps its own hint
        load_config(path, ["strategy.name=evolution", "strategy.params.populaton=3"])
    assert "'populaton' (did you mean 'population'?); all but 'populaton' belong to strategy 'differentiable' or " \
        "'cosearch'" \
        in str(err.value)


def test_params_of_several_other_components_name_each_owner(pm):
    from gasnas.config import default_config_path

    assert "trials" in _option_names(pm, "strategies", "nni")
    with pytest.raises(ConfigError) as err:
        load_config(default_config_path(), ["strategy={name: evolution, params: {arch_lr: 0.1, trials: 2}}"])
    assert ("unknown keys 'arch_lr' (an option of 'differentiable' or 'cosearch'), 'trials' (an option of 'nni'); "
            "'evolution' "
            "takes: weight_lr") in str(err.value)
    with pytest.raises(ConfigError) as err:  # a component without options
        load_config(default_config_path(), ["communicator={name: none, params: {gamma: 0.5}}"])
    assert "communicator.params: unknown key 'gamma'; " in str(err.value)
    assert "belong to communicator 'gcn'" in str(err.value) and "'none' takes no params" in str(err.value)
