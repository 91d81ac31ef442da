"""Executor plugins: ``serial`` (every task here, in turn) and ``ray`` (tasks on a Ray cluster; the ``ray``
extra). Registration and options only: neither ray nor torch is imported here."""

from __future__ import annotations

from dataclasses import dataclass

from gasnas import hookimpl
from gasnas.api import MAX_THREADS, OptionValueError, check_ranges, option

#: the Ray resource a task that measures latency holds: one per node, so measurements never share a node's cores
LATENCY_SLOT = "latency_slot"


@dataclass(frozen=True)
class RayOptions:
    """Where the Ray cluster is and what each task reserves on it. The defaults are ours."""

    address: str | None = option(
        None, "the cluster: null starts a Ray instance on this machine (or joins the one RAY_ADDRESS names, or the "
              "one this process already started); 'auto' joins the cluster `ray start` runs here; ray://HOST:10001 "
              "a remote one")
    num_cpus: float = option(1.0, "CPUs each task reserves", gt=0, le=MAX_THREADS)
    num_gpus: float = option(0.0, "GPUs each task reserves (a fraction shares one GPU among tasks)", ge=0, le=64)
    resources: dict[str, float] = option({}, "custom Ray resources each task reserves, e.g. {big_memory: 1}")
    threads: int | None = option(None, "torch CPU threads in each task (null: the thread count of the process "
                                       "that submits them, so that results equal the serial executor's)",
                                 ge=1, le=MAX_THREADS)
    latency_resource: str = option(LATENCY_SLOT, "the custom resource a latency-measuring task holds; give each "
                                                 "node one (`ray start --resources='{\"latency_slot\": 1}'`) so "
                                                 "that measurements on a node run one at a time")
    latency_cpus: float | None = option(None, "CPUs a latency-measuring task reserves (null: num_cpus); the "
                                              "node's core count keeps every other task off its cores", gt=0,
                                        le=MAX_THREADS)

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.address is not None and not self.address.strip():
            raise OptionValueError("address", "an empty address; use null for a local Ray, 'auto' or ray://HOST:PORT")
        if not self.latency_resource:
            raise OptionValueError("latency_resource", "an empty resource name")
        for name, amount in self.resources.items():
            if not name or not 0 < amount < float("inf"):
                raise OptionValueError("resources", f"{name!r}: {amount!r}; expected a name and a positive amount")


@hookimpl
def gasnas_register_executors(registry) -> None:
    registry.add("serial", "gasnas.api:SerialExecutor",
                 description="every task in this process, one after the other (the default)")
    registry.add("ray", "gasnas_plugins.executors.ray:RayExecutor", options=RayOptions,
                 description="tasks on a Ray cluster (pip install 'gasnas[ray]'); latency measurements one at a time "
                             "per node; results equal the serial executor's")
