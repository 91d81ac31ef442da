"""Executors: how independent pieces of work -- scoring candidates, retraining architectures -- fan out.

An :class:`Executor` calls a function on every item of a list and returns the results in the items' order.
The ``serial`` executor (the default, :class:`SerialExecutor`) calls it here, one item after the other; others
(the ``ray`` plugin) send the calls to other processes or machines. What an item gives never depends on the
executor: a task carries everything it needs (its seed included), so a search gives the same architectures
whichever executor scored its candidates.

A task is ``fn(shared, item)``: ``fn`` a function defined at a module's top level (other processes import it by
name), ``shared`` what every call of one :meth:`Executor.map` reads (sent once per map, e.g. the supernet's
weights and the validation batches), ``item`` the call's own plain data. Tasks that time something pass
``timing=True``: an executor runs at most one of those at a time on a machine, so that two latency measurements
never share its cores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from gasnas.config import ComponentConfig
    from gasnas.plugins import PluginManager

__all__ = ["Executor", "SerialExecutor", "open_executor"]

S = TypeVar("S")
I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


@runtime_checkable
class Executor(Protocol):
    """Maps a task over items, keeping their order. Used as a context manager: leaving it releases what it
    started (a Ray instance it launched, worker processes)."""

    #: the registered name, for messages
    name: str

    def map(self, fn: Callable[[Any, Any], Any], items: Sequence[Any], *, shared: Any = None,
            timing: bool = False, progress: Callable[[], None] | None = None) -> list[Any]:
        """``[fn(shared, item) for item in items]``, in that order, wherever the calls run. ``timing``: the calls
        measure latency (at most one of them at a time per machine); ``progress`` is called once per finished
        item (in the calling process)."""
        ...

    def close(self) -> None:
        """Release what this executor started."""
        ...

    def __enter__(self) -> Executor:
        ...

    def __exit__(self, *exc: object) -> None:
        ...


class SerialExecutor:
    """The default: every call here, one after the other, in this process (no copies, no pickling)."""

    name = "serial"

    def __init__(self, options: Any = None) -> None:
        self.options = options

    def map(self, fn: Callable[[S, I], R], items: Sequence[I], *, shared: S = None, timing: bool = False,
            progress: Callable[[], None] | None = None) -> list[R]:
        results = []
        for item in items:
            results.append(fn(shared, item))
            if progress is not None:
                progress()
        return results

    def close(self) -> None:
        pass

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_executor(section: ComponentConfig | None, pm: PluginManager | None = None) -> Executor:
    """The executor a config's ``executor`` section names (:class:`SerialExecutor` without one), built from the
    ``executors`` registry; use it as a context manager."""
    if section is None:
        return SerialExecutor()
    from gasnas.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    return pm.registry("executors").get(section.name).build(section.params)
