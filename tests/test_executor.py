"""Executors: the serial default, the `executor` config section, the registration hook, the ray plugin's options
(the Ray cluster itself is exercised in tests/executors/test_ray.py)."""

from __future__ import annotations

import operator
import re
import sys

import pytest

from gasnas.config import load_config
from gasnas.errors import ConfigError, MissingDependencyError
from gasnas.executor import Executor, SerialExecutor, open_executor
from gasnas.hookspecs import hookimpl


def test_serial_executor_keeps_order_shares_one_object_and_reports_progress():
    ticks, shared = [], []
    with open_executor(None) as ex:
        assert isinstance(ex, SerialExecutor) and isinstance(ex, Executor)
        out = ex.map(lambda s, item: (shared.append(s), item * s)[1], [3, 1, 2], shared=10,
                     progress=lambda: ticks.append(1))
    assert out == [30, 10, 20] and len(ticks) == 3 and shared == [10, 10, 10]
    assert ex.map(operator.add, [], shared=1) == []


def test_executor_section_parses_and_leaves_the_digest_alone(toy_config):
    plain = load_config(toy_config)
    assert plain.executor is None
    ray = load_config(toy_config, ["executor={name: ray, params: {address: auto, num_cpus: 2}}"])
    assert ray.executor.name == "ray" and ray.executor.params.num_cpus == 2 and ray.executor.params.address == "auto"
    assert ray.to_dict()["executor"]["params"]["latency_resource"] == "latency_slot"
    assert ray.digest == plain.digest  # where tasks run never changes what they give: runs resume across it
    assert load_config(toy_config, ["executor=serial"]).executor.name == "serial"


@pytest.mark.parametrize("override, message", [
    ("executor={name: rey}", "executor.name: unknown executor 'rey' (did you mean 'ray'?)"),
    ("executor={name: ray, params: {num_cpu: 2}}", "executor.params: unknown key 'num_cpu' (did you mean 'num_cpus'?)"),
    ("executor={name: ray, params: {num_cpus: 0}}", "executor.params.num_cpus: 0 is out of range"),
    ("executor={name: ray, params: {resources: {big: -1}}}", "executor.params.resources"),
    ("executor={name: serial, params: {address: auto}}", "these params belong to executor 'ray'"),
])
def test_executor_mistakes_name_the_key(toy_config, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(toy_config, [override])


def test_a_plugin_registers_an_executor_through_gasnas_register_executors(toy_config, pm, register):
    class Reversed(SerialExecutor):
        name = "reversed"

        def map(self, fn, items, *, shared=None, timing=False, progress=None):
            return list(reversed(super().map(fn, list(reversed(items)), shared=shared)))

    class Plugin:
        @hookimpl
        def gasnas_register_executors(self, registry):
            registry.add("reversed", Reversed, description="the serial executor, backwards")

    register(Plugin(), name="reversed-executor")
    assert pm.registry("executors").names() == ["ray", "reversed", "serial"]
    config = load_config(toy_config, ["executor=reversed"], pm)
    with open_executor(config.executor, pm) as ex:
        assert isinstance(ex, Reversed) and ex.map(operator.sub, [1, 2], shared=5) == [4, 3]


def test_the_ray_executor_says_how_to_install_ray(monkeypatch):
    from gasnas_plugins.executors import RayOptions
    from gasnas_plugins.executors.ray import RayExecutor

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'gasnas\[ray\]'"):
        RayExecutor(RayOptions()).map(operator.add, [1], shared=1)
