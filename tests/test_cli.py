from __future__ import annotations

import json
import subprocess
import sys

import yaml

from gasnas.config import load_config


def test_help_and_plugins_do_not_import_torch():
    code = ("import sys; from gasnas.cli import main\n"
            "for args in (['--help'], ['plugins']):\n"
            "    try: main(args)\n"
            "    except SystemExit: pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("NO-TORCH")


def test_help_lists_core_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for name in ("search", "plugins", "config", "init"):
        assert name in result.output


def test_plugins_lists_every_component(cli, toys):
    result = cli("plugins")
    assert result.exit_code == 0, result.output
    assert "toys" in result.output
    for name in ("blobs", "tiny", "random", "pixel-accuracy", "callbacks.curves"):
        assert name in result.output


def test_config_schema_is_json_schema_that_accepts_a_valid_config(cli, toy_config):
    import jsonschema

    result = cli("config", "schema")
    assert result.exit_code == 0
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = yaml.safe_load(toy_config.read_text())
    assert not list(validator.iter_errors(good))
    bad = dict(good, strategy={"name": "random", "params": {"per_epock": 1}})
    assert list(validator.iter_errors(bad))
    assert not list(validator.iter_errors(dict(good, communicator=None)))  # optional sections may be null
    assert "random" in schema["properties"]["strategy"]["properties"]["name"]["enum"]


def test_config_check_prints_resolved_config(cli, toy_config):
    result = cli("config", "check", str(toy_config), "--set", "seed=5")
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.output)
    assert resolved["seed"] == 5 and resolved["budget"]["workers"] == 0


def test_init_writes_a_config_that_loads(cli, tmp_path, pm, monkeypatch):
    from gasnas import config as config_module

    try:
        config_module.default_config_path()
    except Exception:  # noqa: BLE001 - before the quickstart exists init has nothing to start from
        result = cli("init", str(tmp_path / "g.yaml"))
        assert result.exit_code == 2 and "quickstart config" in result.output
        return
    target = tmp_path / "g.yaml"
    result = cli("init", str(target))
    assert result.exit_code == 0, result.output
    assert "#" in target.read_text()
    load_config(target)
    again = cli("init", str(target))
    assert again.exit_code == 2 and "--force" in again.output


def test_version(cli):
    from gasnas import __version__

    result = cli("--version")
    assert result.exit_code == 0 and __version__ in result.output


def _every_component(pm):
    from gasnas.config import SECTIONS

    return [(section, name) for section, (kind, _) in SECTIONS.items() for name in pm.registry(kind).names()]


def test_init_writes_any_component_with_its_own_params(cli, tmp_path, pm):
    """`gasnas init --SECTION NAME` for every registered component: a config that loads, with that component's
    params (its defaults, completed by its registered example) and the quickstart's other sections."""
    import dataclasses

    from gasnas.config import SECTIONS, default_config_path

    quickstart = load_config(default_config_path())
    for section, name in _every_component(pm):
        target = tmp_path / f"{section}-{name}.yaml"
        result = cli("init", str(target), f"--{section}", name)
        assert result.exit_code == 0, f"--{section} {name}: {result.output}"
        config = load_config(target)
        chosen = getattr(config, section)
        assert chosen.name == name
        component = pm.registry(SECTIONS[section][0]).get(name)
        written = yaml.safe_load(target.read_text())[section].get("params")
        if getattr(quickstart, section) is None or name != getattr(quickstart, section).name:  # e.g. executor
            assert chosen.params == component.example_options()
            fields = [f.name for f in dataclasses.fields(component.options)] if component.options else []
            assert list(written or {}) == fields
        others = [s for s in SECTIONS if s != section]
        assert {s: getattr(config, s).to_dict() if getattr(config, s) else None for s in others} == \
            {s: getattr(quickstart, s).to_dict() if getattr(quickstart, s) else None for s in others}


def test_init_with_several_components_and_its_errors(cli, tmp_path, pm, toys):
    target = tmp_path / "g.yaml"
    result = cli("init", str(target), "--strategy", "evolution", "--latency", "onnxruntime")
    assert result.exit_code == 0, result.output
    config = load_config(target)
    assert (config.strategy.name, config.latency.name) == ("evolution", "onnxruntime")
    assert config.latency.target_relative == 1.0 and config.latency.measure.name == "onnxruntime"  # kept
    unknown = cli("init", str(tmp_path / "u.yaml"), "--space", "gass")
    assert unknown.exit_code == 2
    assert "--space: unknown search space 'gass' (did you mean 'gas'?); available: " in unknown.output
    unfit = cli("init", str(tmp_path / "i.yaml"), "--space", "tiny")  # a toy space without a supernet
    assert unfit.exit_code == 2 and "strategy 'differentiable' needs a search space with supernet" in unfit.output
    assert not (tmp_path / "u.yaml").exists() and not (tmp_path / "i.yaml").exists()
    renamed = cli("config", "check", str(target), "--set", "strategy.name=differentiable")
    assert renamed.exit_code == 2 and "these params belong to strategy 'evolution'" in renamed.output
