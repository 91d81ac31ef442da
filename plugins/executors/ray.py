"""The ``ray`` executor: every task a Ray task, on this machine or a cluster.

Each :meth:`RayExecutor.map` puts its shared data into Ray's object store once; a worker reads it once per map
(cached by object id), sets torch's CPU threads to the submitting process's count -- so a task computes exactly
what the serial executor computes here -- and calls the task. Results come back in the items' order. A task that
measures latency holds the node's ``latency_slot`` resource (one per node), so measurements never run side by
side on one machine. When no Ray runs yet and no address is given, a local instance starts with one latency slot
and this process's import path (plugins loaded from a folder work in its workers), and stops with the executor.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from gasnas.api import ConfigError, GasnasError, MissingDependencyError, PluginError
from gasnas_plugins.executors import RayOptions

__all__ = ["RayExecutor"]

log = logging.getLogger(__name__)

#: what a worker process last read from the object store: {object id: value} (one map's shared data at a time)
_SHARED: dict[str, Any] = {}


def _call(fn: Callable[[Any, Any], Any], box: list, item: Any, threads: int | None) -> Any:
    """The Ray task: ``fn(shared, item)`` with the shared data of ``box`` (an object ref, boxed so that Ray does
    not resolve it for every task) and ``threads`` torch threads."""
    import ray

    key = box[0].hex()
    if key not in _SHARED:
        _SHARED.clear()
        _SHARED[key] = ray.get(box[0])
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return fn(_SHARED[key], item)


def _submitter_threads() -> int | None:
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


class RayExecutor:
    """See the module docstring; options: :class:`~gasnas_plugins.executors.RayOptions`."""

    name = "ray"

    def __init__(self, options: RayOptions | None = None) -> None:
        self.options = options or RayOptions()
        self._ray: Any = None
        self._started = False

    # -- the cluster ------------------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._ray is not None:
            return self._ray
        try:
            import ray
        except ImportError:
            raise MissingDependencyError.for_module("ray", "ray", "by the ray executor (executor.name: ray)") \
                from None
        if not ray.is_initialized():
            address = self.options.address
            where = address or os.environ.get("RAY_ADDRESS") or "a new local instance"
            try:
                if address is None and not os.environ.get("RAY_ADDRESS"):
                    path = os.pathsep.join(p for p in sys.path if p)
                    ray.init(resources={self.options.latency_resource: 1}, include_dashboard=False,
                             logging_level=logging.WARNING, runtime_env={"env_vars": {"PYTHONPATH": path}})
                else:
                    ray.init(address=address, logging_level=logging.WARNING)
            except Exception as exc:  # noqa: BLE001 - whatever Ray raises, say which cluster it was
                raise GasnasError(f"executor.params.address: cannot start or reach Ray ({where}): "
                                  f"{type(exc).__name__}: {exc}") from exc
            self._started = True
            log.info("ray executor: connected to %s", where)
        self._ray = ray
        return ray

    def _task_options(self, ray: Any, timing: bool) -> dict[str, Any]:
        o = self.options
        cpus = o.latency_cpus if timing and o.latency_cpus is not None else o.num_cpus
        resources = dict(o.resources)
        have = ray.cluster_resources()
        if timing:
            if o.latency_resource not in have:
                raise ConfigError(f"executor.params.latency_resource: the Ray cluster has no '{o.latency_resource}' "
                                  "resource, so latency measurements cannot be kept one per node; start every node "
                                  f"with `ray start ... --resources='{{\"{o.latency_resource}\": 1}}'`")
            resources[o.latency_resource] = 1
        largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
        if cpus > largest:
            raise ConfigError(f"executor.params.{'latency_cpus' if timing and o.latency_cpus else 'num_cpus'}: a "
                              f"task asks for {cpus:g} CPUs but the largest node of the Ray cluster has "
                              f"{largest:g}; no task could start")
        for name in resources:
            if name not in have:
                raise ConfigError(f"executor.params.resources: the Ray cluster has no resource '{name}' (it has: "
                                  f"{', '.join(sorted(have))})")
        return {"num_cpus": cpus, "num_gpus": o.num_gpus, "resources": resources or None}

    # -- the executor protocol -------------------------------------------------------------------------------------

    def map(self, fn: Callable[[Any, Any], Any], items: Sequence[Any], *, shared: Any = None, timing: bool = False,
            progress: Callable[[], None] | None = None) -> list[Any]:
        items = list(items)
        if not items:
            return []
        ray = self._connect()
        remote = ray.remote(_call).options(**self._task_options(ray, timing), max_retries=0)
        try:
            box = [ray.put(shared)]
        except Exception as exc:  # noqa: BLE001 - unpicklable data: name what was sent
            raise PluginError(f"ray executor: cannot send the shared data of {fn.__qualname__} to Ray "
                              f"({type(shared).__name__}): {type(exc).__name__}: {exc}") from exc
        threads = self.options.threads or _submitter_threads()
        refs = [remote.remote(fn, box, item, threads) for item in items]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    results[index[ref]] = self._result(ray, ref, fn, index[ref])
                    if progress is not None:
                        progress()
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return results

    @staticmethod
    def _result(ray: Any, ref: Any, fn: Callable, i: int) -> Any:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, GasnasError):
                raise cause from None
            raise PluginError(f"ray executor: task {fn.__qualname__} failed on item {i}: "
                              f"{type(cause).__name__}: {cause}") from cause
        except ray.exceptions.RayError as exc:
            raise PluginError(f"ray executor: task {fn.__qualname__} on item {i} was lost: "
                              f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Stop the Ray instance this executor started (one it joined keeps running)."""
        if self._started and self._ray is not None:
            self._ray.shutdown()
        self._started = False
        self._ray = None

    def __enter__(self) -> RayExecutor:
        """Start or join Ray now: a wrong address fails before any work, not at the first task."""
        self._connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
