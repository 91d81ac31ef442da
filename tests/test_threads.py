"""The CPU thread count: one rule (flag, config, OMP_NUM_THREADS, a resumed run's count, automatic) for every
command, applied by the engine and shown in the run header."""

from __future__ import annotations

import pytest
import torch

from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import ConfigError
from gasnas.reporting import NullReporter
from gasnas.threads import Threads, automatic_threads, cgroup_cpu_limit, choose_threads, usable_cpus


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """Commands set torch's thread count for the process: put it back for the tests that follow."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def no_omp(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


# -- the automatic count ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("cpus", "load", "torch_default", "count"), [
    (2, 0.1, 2, 2),    # an idle machine: torch's default
    (2, 1.9, 2, 1),    # the busy 2-core machine of the quickstart report: one thread, not two
    (2, 3.5, 2, 1),    # busier than its CPUs: still one
    (16, 0.0, 8, 8),   # never more than torch's default (its physical cores)
    (16, 10.4, 8, 6),  # 10 busy of 16: the 6 idle ones
    (4, 1.5, 8, 2),    # the load rounds to the nearest busy CPU (1.5 -> 2)
])
def test_automatic_takes_the_idle_cpus_at_most_torch_default(cpus, load, torch_default, count):
    chosen = automatic_threads(cpus=cpus, load=load, torch_default=torch_default)
    assert chosen.count == count
    assert chosen.why.startswith(f"automatic: {cpus} usable CPUs, load {load:.1f}")


def test_automatic_names_torch_default_when_it_decides():
    assert automatic_threads(cpus=16, load=0.0, torch_default=8).why == \
        "automatic: 16 usable CPUs, load 0.0, torch's default 8"
    assert str(automatic_threads(cpus=1, load=0.0, torch_default=4)) == "1 thread (automatic: 1 usable CPU, load 0.0)"


def test_usable_cpus_is_the_affinity_capped_by_a_cgroup_quota(monkeypatch):
    import gasnas.threads as threads

    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 3)
    assert usable_cpus() == 3  # a container started with --cpus 2.5 on a 64-CPU host
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: None)
    assert usable_cpus() == 64


def test_cgroup_quota_v2_v1_and_none(tmp_path):
    membership = tmp_path / "cgroup"
    membership.write_text("0::/job\n")
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "cpu.max").write_text("250000 100000\n")
    assert cgroup_cpu_limit(tmp_path, membership) == 3  # 2.5 CPUs: rounded up
    (tmp_path / "job" / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path, membership) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(v1, tmp_path / "missing") == 2
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(v1, tmp_path / "missing") is None


# -- precedence ------------------------------------------------------------------------------------------------

def test_flag_then_config_then_omp_then_the_started_count(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads(5, 4, started=2) == Threads(5, "--threads")
    assert choose_threads(None, 4, started=2) == Threads(4, "threads in the config")
    assert choose_threads(None, None, started=2) == Threads(3, "OMP_NUM_THREADS=3")
    monkeypatch.setenv("OMP_NUM_THREADS", "2,1")  # OpenMP's nested form: the outer level counts
    assert choose_threads().count == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert choose_threads(None, None, started=2) == Threads(2, "as the run started")
    automatic = choose_threads()
    assert automatic.why.startswith("automatic: ") and automatic.count >= 1
    assert choose_threads() is automatic  # decided once per process


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5"])
def test_a_bad_omp_num_threads_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    with pytest.raises(ConfigError, match=f"OMP_NUM_THREADS='{value}' is not a thread count"):
        choose_threads()
    assert choose_threads(2).count == 2  # an explicit count does not read it


def test_an_explicit_count_out_of_range_is_refused():
    with pytest.raises(ConfigError, match="--threads: 0 is not a thread count"):
        choose_threads(0)


# -- the engine and the search command ---------------------------------------------------------------------------

def test_the_engine_applies_and_checkpoints_its_count_and_a_resume_keeps_it(toy_config, no_omp):
    engine = Engine(load_config(toy_config, ["strategy.params.fail_at_epoch=0"]), reporter=NullReporter(),
                    threads=2)
    with pytest.raises(KeyboardInterrupt):
        engine.run()
    assert engine.threads == Threads(2, "--threads") and torch.get_num_threads() == 2
    assert engine.run.threads == engine.threads and engine.run.device == "cpu"
    assert engine.run_dir.load_checkpoint()["threads"] == 2
    torch.set_num_threads(1)
    resumed = Engine.resume(engine.run_dir.path, reporter=NullReporter())
    resumed.run()  # from epoch 1: the kill after epoch 0 is behind it
    assert resumed.threads == Threads(2, "as the run started") and torch.get_num_threads() == 2


def test_search_threads_flag_shows_in_the_header(toy_config, cli):
    result = cli("search", str(toy_config), "--threads", "2", "--name", "flag")
    assert result.exit_code == 0, result.output
    assert "computing on cpu with 2 threads (--threads)" in result.output
    assert torch.get_num_threads() == 2
    result = cli("search", str(toy_config), "--set", "threads=1", "--name", "config")
    assert result.exit_code == 0, result.output
    assert "computing on cpu with 1 thread (threads in the config)" in result.output
    result = cli("search", "--resume", str(toy_config.parent / "runs" / "flag"), "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "computing on cpu with 1 thread (--threads)" in result.output


def test_search_threads_mistakes_exit_2(toy_config, cli):
    result = cli("search", str(toy_config), "--threads", "0")
    assert result.exit_code == 2 and "--threads" in result.output and "1<=x<=4096" in result.output
    result = cli("search", str(toy_config), env={"OMP_NUM_THREADS": "many"})
    assert result.exit_code == 2 and "OMP_NUM_THREADS='many' is not a thread count" in result.output
