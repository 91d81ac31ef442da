"""The ray executor on a local Ray with 2 CPUs (one session for the module: Ray's start-up is paid once)."""

from __future__ import annotations

import logging
import operator
import os
import sys
import time

import pytest

from gasnas.errors import ConfigError, DataError, PluginError

ray = pytest.importorskip("ray")

from gasnas_plugins.executors import RayOptions  # noqa: E402
from gasnas_plugins.executors.ray import RayExecutor  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray: 2 CPUs, one latency slot, this process's import path (the tests' toy plugins) in workers."""
    ray.init(num_cpus=2, resources={"latency_slot": 1}, include_dashboard=False, logging_level=logging.WARNING,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    yield ray
    ray.shutdown()


def _interval(pause: float, item: int) -> tuple[int, int, float, float]:
    start = time.time()
    time.sleep(pause)
    return item, os.getpid(), start, time.time()


def _fail(kind: str, item: int) -> int:
    if kind == "data":
        raise DataError(f"sample {item} is unreadable")
    raise ValueError(f"bad item {item}")


def test_results_keep_order_and_latency_tasks_never_overlap(local_ray):
    executor = RayExecutor(RayOptions())
    ticks = []
    assert executor.map(operator.add, list(range(6)), shared=100, progress=lambda: ticks.append(1)) == \
        [100, 101, 102, 103, 104, 105]
    assert len(ticks) == 6
    timed = executor.map(_interval, [0, 1, 2, 3], shared=0.3, timing=True)
    assert [t[0] for t in timed] == [0, 1, 2, 3] and all(t[1] != os.getpid() for t in timed)
    spans = sorted((start, end) for _, _, start, end in timed)
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans  # one slot
    executor.close()
    assert ray.is_initialized()  # a Ray it joined keeps running


def test_task_errors_come_back_clearly(local_ray):
    executor = RayExecutor(RayOptions())
    with pytest.raises(DataError, match="sample 1 is unreadable"):  # gasnas errors pass unchanged
        executor.map(_fail, [1], shared="data")
    with pytest.raises(PluginError, match=r"task _fail failed on item 0: ValueError: bad item 7"):
        executor.map(_fail, [7], shared="other")


def test_requests_the_cluster_cannot_meet_are_refused(local_ray):
    with pytest.raises(ConfigError, match=r"executor.params.num_cpus: a task asks for 3 CPUs but the largest node"):
        RayExecutor(RayOptions(num_cpus=3)).map(operator.add, [1], shared=1)
    with pytest.raises(ConfigError, match="executor.params.resources: the Ray cluster has no resource 'tpu'"):
        RayExecutor(RayOptions(resources={"tpu": 1})).map(operator.add, [1], shared=1)
    with pytest.raises(ConfigError, match="has no 'quiet_node' resource.*ray start"):
        RayExecutor(RayOptions(latency_resource="quiet_node")).map(operator.add, [1], shared=1, timing=True)


def test_an_evolution_search_on_ray_gives_the_serial_result(gas_config, local_ray, monkeypatch):
    """Candidates scored in Ray tasks (2 CPUs) give exactly the serial executor's scores, front and architecture;
    the driver's own scorer then scores only the supernet epoch's probe path."""
    from gasnas.config import load_config
    from gasnas.engine import Engine
    from gasnas.reporting import NullReporter
    from gasnas_plugins.strategies.evolution.scoring import PathScorer

    calls = []
    score = PathScorer.score
    monkeypatch.setattr(PathScorer, "score", lambda self, sample: (calls.append(1), score(self, sample))[1])
    overrides = ["strategy={name: evolution, params: {population: 4, sample_size: 2, generations: 2, "
                 "limit_samples: 8, children_at_once: 2}}", "budget.epochs=3", "latency={name: flops}"]
    results = {}
    for name, executor in (("serial", "executor=null"), ("ray", "executor={name: ray}")):
        calls.clear()
        engine = Engine(load_config(gas_config, [*overrides, executor, f"name={name}"]), reporter=NullReporter())
        result = engine.run()
        pareto = (engine.run_dir.path / "pareto.yaml").read_text()
        results[name] = (result.metrics["val_miou"], [a.sample for a in result.architectures], pareto, len(calls))
    serial, on_ray = results["serial"], results["ray"]
    assert on_ray[:3] == serial[:3]
    assert serial[3] == 1 + 8 and on_ray[3] == 1  # the probe, plus (serially) the 8 candidates scored


def test_top_k_trainings_on_ray_give_the_serial_results(cli, local_ray, tmp_path):
    """`gasnas train SEARCH_RUN --top-k 2` with executor ray: two Ray tasks, the serial executor's results."""
    import json

    from top_k_fixtures import results, search_run, train_config

    run = search_run(tmp_path, count=2)
    for name, executor in (("serial", None), ("ray", {"name": "ray"})):
        config = train_config(tmp_path, **({"executor": executor} if executor else {}))
        out = cli("train", str(run), "--top-k", "2", "-c", str(config), "--name", name)
        assert out.exit_code == 0, out.output
    summary = {(name, i): results(json.loads((tmp_path / "runs" / f"{name}-top{i}" / "summary.json").read_text()))
               for name in ("serial", "ray") for i in (1, 2)}
    assert summary["ray", 1] == summary["serial", 1] and summary["ray", 2] == summary["serial", 2]
    assert summary["ray", 1] != summary["ray", 2]
