"""Progress and messages without a UI dependency: the engine reports here; the CLI plugs in rich.

``reporter.progress(total, description)`` is a context manager giving a task with ``advance(n)`` and
``update(**fields)``. :class:`LogReporter` (the default) writes to :mod:`logging`; the CLI installs
:class:`gasnas.console.RichReporter`. Only the main process reports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["ProgressTask", "Reporter", "LogReporter", "NullReporter"]

log = logging.getLogger("gasnas")


class ProgressTask:
    """A unit of long work: advance it as it goes; ``update`` shows live metrics beside it."""

    def __init__(self, total: int | None, description: str) -> None:
        self.total = total
        self.description = description
        self.completed = 0
        self.fields: dict[str, Any] = {}

    def advance(self, n: int = 1) -> None:
        self.completed += n

    def update(self, **fields: Any) -> None:
        self.fields.update(fields)


class Reporter:
    """Where progress and messages go."""

    @contextmanager
    def progress(self, total: int | None, description: str) -> Iterator[ProgressTask]:
        yield ProgressTask(total, description)

    def message(self, text: str) -> None:
        log.info(text)


class NullReporter(Reporter):
    def message(self, text: str) -> None:
        pass


class LogReporter(Reporter):
    """Logs the start and the end of each task, with its duration and last metrics."""

    @contextmanager
    def progress(self, total: int | None, description: str) -> Iterator[ProgressTask]:
        task = ProgressTask(total, description)
        start = time.perf_counter()
        log.info("%s: started (%s steps)", description, total if total is not None else "?")
        yield task
        extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in task.fields.items())
        log.info("%s: done in %.1fs %s", description, time.perf_counter() - start, extra)
