"""Mutations of the quickstart config -- type swaps, typos of keys and plugin names, out-of-range and non-finite
numbers, deletions, wrong nesting -- through ``gasnas config check`` and the start of ``gasnas search``: each is
valid or a clear error (exit 2, a message naming where), never a traceback.

The mutations come from a fixed seed, so a failure reproduces; ``-s`` prints the counts.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from gasnas import hookimpl
from gasnas.config import default_config_path, load_config
from gasnas.errors import GasnasError

SEED = 20261201
PER_OPERATOR = 30  # 8 operators: 240 mutations per run
STARTED = "fuzz: the search started"


class StopAtStart:
    """Ends ``gasnas search`` once every component is built and the latency target resolved."""

    @hookimpl
    def gasnas_search_started(self, run):
        raise GasnasError(STARTED)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a nested mapping (sections and leaves)."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out += _paths(value, (*prefix, key))
    return out


def _get(data: dict, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 2:
        return word + "x"
    i = rng.randrange(len(word) - 1)
    return rng.choice([word[:i] + word[i + 1:], word[:i] + word[i + 1] + word[i] + word[i + 2:],
                       word[:i] + rng.choice("aeioux_") + word[i:]])


def _numbers(data: dict) -> list[tuple]:
    return [p for p in _paths(data) if isinstance(_get(data, p), (int, float)) and not isinstance(_get(data, p), bool)]


def _mutate(base: dict, operator: str, rng: random.Random) -> dict:
    data = copy.deepcopy(base)
    paths = _paths(data)
    path = rng.choice(paths)
    parent = _get(data, path[:-1])
    key = path[-1]
    if operator == "type swap":
        value = parent[key]
        parent[key] = rng.choice([v for v in ("text", 7, 2.5, True, None, [1, 2], {"a": 1}) if type(v) is not type(value)])
    elif operator == "key typo":
        parent[_typo(str(key), rng)] = parent.pop(key)
    elif operator == "plugin name typo":
        names = [p for p in paths if p[-1] == "name" and isinstance(_get(data, p), str)]
        path = rng.choice(names)
        _get(data, path[:-1])["name"] = _typo(_get(data, path), rng)
    elif operator in ("out of range", "non-finite", "scientific"):
        path = rng.choice(_numbers(data))
        values = {"out of range": (-1, 0, -0.5, 10**12, -10**12, 2**70),
                  "non-finite": (float("nan"), float("inf"), float("-inf")),
                  "scientific": ("1e-4", "5e2", "-2e0", "1e999")}[operator]
        _get(data, path[:-1])[path[-1]] = rng.choice(values)
    elif operator == "deletion":
        del parent[key]
    elif operator == "wrong nesting":
        value = parent.pop(key)
        if path[:-1] and rng.random() < 0.5:  # one level up
            _get(data, path[:-2])[key] = value
        else:  # one level down, under a made-up key or a sibling
            siblings = [k for k, v in parent.items() if isinstance(v, dict)]
            target = parent.setdefault(rng.choice(siblings) if siblings else "params", {})
            if isinstance(target, dict):
                target[key] = value
            else:
                parent[key] = {"value": value}
    return data


OPERATORS = ["type swap", "key typo", "plugin name typo", "out of range", "non-finite", "scientific", "deletion",
             "wrong nesting"]


def _cases() -> list[tuple[str, dict]]:
    base = yaml.safe_load(default_config_path().read_text())
    rng = random.Random(SEED)
    return [(op, _mutate(base, op, rng)) for op in OPERATORS for _ in range(PER_OPERATOR)]


def _clear(result) -> bool:
    """Exit 2 with a one-panel message and no traceback (an uncaught exception gives exit 1 in CliRunner)."""
    return result.exit_code == 2 and (result.exception is None or isinstance(result.exception, SystemExit)) \
        and "Traceback" not in result.output and "Error" in result.output


def _quick_timings(monkeypatch) -> None:
    """Latency tables are built for real (blocks exported, tables and calibrations cached) but not timed: a block
    "takes" its ONNX size in MB as ms (or its parameters in millions, in torch). The fuzz is about configs; real
    timings would re-measure and re-calibrate a table for each mutated timing option."""
    import importlib

    from gasnas.runtime.timing import summarize

    def onnx(model, *args, **kwargs):
        return summarize([len(model) / 1e6], warmup=0, runtime="onnxruntime", device="cpu", threads=1)

    def torch_(model, *args, **kwargs):
        return summarize([sum(p.numel() for p in model.parameters()) / 1e6 + 1e-3], warmup=0, runtime="torch",
                         device="cpu", threads=1)

    def many(one):
        return lambda models, *args, **kwargs: [one(model) for model in models]

    for name in ("gasnas_plugins.latency.lut", "gasnas_plugins.latency.whole"):
        module = importlib.import_module(name)
        for attr, fake in (("time_onnxruntime", onnx), ("time_torch", torch_), ("time_onnxruntime_many", many(onnx)),
                           ("time_torch_many", many(torch_))):
            if hasattr(module, attr):
                monkeypatch.setattr(module, attr, fake)


def test_mutated_quickstart_configs_are_valid_or_clear_errors(cli, register, tmp_path, monkeypatch):
    monkeypatch.setenv("GASNAS_CACHE_DIR", str(tmp_path / "cache"))
    register(StopAtStart(), name="fuzz-stop")
    _quick_timings(monkeypatch)
    cases = _cases()
    assert len(cases) >= 200
    counts: Counter = Counter()
    started_once: dict[str, str] = {}
    failures = []
    for i, (operator, data) in enumerate(cases):
        path = tmp_path / f"m{i}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        checked = cli("config", "check", str(path))
        if checked.exit_code == 0:
            resolved = json.dumps({k: v for k, v in load_config(path).to_dict().items() if k not in ("output", "name")},
                                  sort_keys=True, default=str)
            if resolved in started_once:  # the same resolved config starts the same way: once is enough
                counts[started_once[resolved]] += 1
                continue
            started = cli("search", str(path), "--output", str(tmp_path / "runs"), "--name", f"m{i}")
            if STARTED in started.output:
                counts["accepted"] += 1
                started_once[resolved] = "accepted"
            elif _clear(started):
                counts["clear at search start"] += 1
                started_once[resolved] = "clear at search start"
            else:
                failures.append((i, operator, "search", started.exit_code, started.output[-400:],
                                 repr(started.exception)))
        elif _clear(checked) and str(path) in checked.output:
            counts["clear"] += 1
        elif _clear(checked):
            counts["clear (no file named)"] += 1
            failures.append((i, operator, "check: the message names no file", checked.output[-300:]))
        else:
            failures.append((i, operator, "check", checked.exit_code, checked.output[-400:],
                             repr(checked.exception)))
    print(f"\nconfig fuzz ({len(cases)} mutations, seed {SEED}): {dict(counts)}; {len(started_once)} distinct "
          f"resolved configs started; failures {len(failures)}")
    assert not failures, "\n".join(map(str, failures[:10]))
    assert counts["accepted"] > 0 and counts["clear"] > len(cases) // 2  # the fuzz reaches both outcomes


@pytest.mark.parametrize("edit, fragment", [
    ({"strategy": {"name": "differentiable", "params": {"beta": float("nan")}}}, "strategy.params.beta: expected a finite number"),
    ({"strategy": {"name": "differentiable", "params": {"arch_lr": -0.1}}}, "strategy.params.arch_lr"),
    ({"seed": 2**70}, "seed: 1180591620717411303424 is out of range"),
    ({"device": "not-a-number"}, "device: 'not-a-number' is not a device"),
    ({"device": ""}, "device: '' is not a device"),
    ({"latency": {"name": "lut", "measure": {"name": "onnxruntime", "params": {"threads": 10**12}}}},
     "latency.measure.params.threads: 1000000000000 is out of range"),
])
def test_the_hand_made_cases_are_refused_by_config_check(edit, fragment, cli, tmp_path):
    data = yaml.safe_load(default_config_path().read_text())
    data.update(edit)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = cli("config", "check", str(path))
    assert result.exit_code == 2 and fragment in result.output, result.output


def test_scientific_notation_is_accepted_in_files_and_on_the_command_line(cli, tmp_path):
    data = yaml.safe_load(default_config_path().read_text())
    data["strategy"]["params"]["arch_lr"] = "3e-2"
    path = tmp_path / "sci.yaml"
    path.write_text(yaml.safe_dump(data))
    assert cli("config", "check", str(path)).exit_code == 0
    result = cli("config", "check", str(path), "--set", "strategy.params.weight_lr=1e-4")
    assert result.exit_code == 0, result.output
    assert "weight_lr: 0.0001" in result.output


@pytest.mark.parametrize("args, fragment", [
    (["benchmark", "gas-tiny", "--threads", "1000000000000"], "--threads"),
    (["benchmark", "gas-tiny", "--repeats", "0"], "--repeats"),
    (["compare", "--warmup", "-1"], "--warmup"),
])
def test_numeric_command_flags_are_checked(args, fragment, cli):
    result = cli(*args)
    assert result.exit_code == 2 and fragment in result.output and "is not in the range" in result.output
