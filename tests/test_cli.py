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
