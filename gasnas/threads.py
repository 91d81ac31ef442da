"""How many CPU threads torch computes with: one rule for every command that computes (search, train, eval,
export, benchmark, latency).

The count, the first of these that is given:

1. ``--threads N`` on the command line;
2. ``threads: N`` at the top level of the config;
3. ``OMP_NUM_THREADS`` in the environment (``torchrun`` sets it to 1 when it starts several processes);
4. the count a resumed run started with, kept in its checkpoint (so that it ends as an uninterrupted run would:
   on a CPU, gradients differ in the last bits between thread counts);
5. automatic: the CPUs this process may use (its affinity mask, capped by a cgroup CPU quota as in a container
   started with ``--cpus``) less the busy ones (the 1-minute load average, rounded), at most torch's default
   and at least 1.

Automatic never runs more threads than there are idle CPUs: when threads outnumber the CPUs that run them,
torch's OpenMP threads wait for each other at every operation and a search slows down several times (the
quickstart's first epoch took 16 minutes on a busy 2-core machine with torch's default of 2 threads, its
other 8 took 17 minutes with one). It is decided once per process, so that runs in one process agree. Torch's
inter-op pool is left alone: eager training and inference do not use it.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gasnas.config import MAX_THREADS
from gasnas.errors import ConfigError

__all__ = ["Threads", "choose_threads", "threads_option", "automatic_threads", "usable_cpus", "cgroup_cpu_limit",
           "OMP_ENV"]

OMP_ENV = "OMP_NUM_THREADS"


@dataclass(frozen=True)
class Threads:
    """A thread count and why it was chosen (``"--threads"``, ``"OMP_NUM_THREADS=1"``, ``"automatic: ..."``)."""

    count: int
    why: str

    def __str__(self) -> str:
        return f"{self.count} thread{'' if self.count == 1 else 's'} ({self.why})"

    def apply(self) -> Threads:
        """Make torch compute with :attr:`count` threads; returns ``self``."""
        import torch

        torch.set_num_threads(self.count)
        return self


def choose_threads(flag: int | None = None, config: int | None = None, *, started: int | None = None) -> Threads:
    """The thread count of a command: ``flag`` (its ``--threads``), else ``config`` (the config's ``threads``),
    else ``OMP_NUM_THREADS``, else ``started`` (what a resumed run started with), else :func:`automatic_threads`
    for this machine (decided once per process)."""
    for count, why in ((flag, "--threads"), (config, "threads in the config")):
        if count is not None:
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_THREADS:
                raise ConfigError(f"{why}: {count!r} is not a thread count; use 1 to {MAX_THREADS}")
            return Threads(count, why)
    from_env = _from_env()
    if from_env is not None:
        return from_env
    if started is not None and started >= 1:
        return Threads(int(started), "as the run started")
    return _automatic()


def threads_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--threads N`` option of every command that computes, with one meaning: :func:`choose_threads`'s
    ``flag``."""
    import click

    return click.option("--threads", type=click.IntRange(1, MAX_THREADS), metavar="N",
                        help="CPU threads to compute with (before the config's threads and OMP_NUM_THREADS; default: "
                             "one per idle CPU, at most torch's default).")(command)


def automatic_threads(*, cpus: int, load: float, torch_default: int) -> Threads:
    """The automatic count: ``cpus`` usable CPUs less ``load`` (busy processes, rounded), at most
    ``torch_default``, at least 1."""
    idle = cpus - int(load + 0.5)
    count = max(1, min(torch_default, idle))
    why = f"automatic: {cpus} usable CPU{'' if cpus == 1 else 's'}, load {load:.1f}"
    if torch_default < idle:
        why += f", torch's default {torch_default}"
    return Threads(count, why)


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    return max(1, min(cpus, limit) if limit is not None else cpus)


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup"), membership: Path = Path("/proc/self/cgroup")) -> int | None:
    """The CPUs a cgroup quota allows this process (rounded up), None without a quota: cgroup v2's ``cpu.max``
    of the process's group (or of the mount root, as a container sees it), else cgroup v1's CFS quota."""
    candidates = []
    try:
        for line in membership.read_text().splitlines():
            if line.startswith("0::"):
                candidates.append(root / line[3:].strip().lstrip("/") / "cpu.max")
    except OSError:
        pass
    candidates.append(root / "cpu.max")
    for path in candidates:
        try:
            quota, _, period = path.read_text().strip().partition(" ")
            if quota != "max":
                return max(1, math.ceil(int(quota) / int(period)))
            return None
        except (OSError, ValueError, ZeroDivisionError):
            continue
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None


def _from_env() -> Threads | None:
    value = os.environ.get(OMP_ENV, "").strip()
    if not value:
        return None
    first = value.split(",")[0].strip()  # OpenMP allows a list, one count per nesting level
    if not first.isdigit() or not 1 <= int(first) <= MAX_THREADS:
        raise ConfigError(f"{OMP_ENV}={value!r} is not a thread count; set it to 1 to {MAX_THREADS} (e.g. "
                          f"{OMP_ENV}=1), unset it, or pass --threads N")
    return Threads(int(first), f"{OMP_ENV}={first}")


@functools.cache
def _automatic() -> Threads:
    import torch

    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this system
        load = 0.0
    return automatic_threads(cpus=usable_cpus(), load=load, torch_default=torch.get_num_threads())
