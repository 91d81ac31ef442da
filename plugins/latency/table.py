"""A latency lookup table: block signature -> ms, measured on one device/runtime/dtype/thread count, with one
timing statistic read by one clock, the blocks called one way (blocked or interleaved).

The table is a JSON file written atomically after every few measurements, so an interrupted build resumes
where it stopped. A file that cannot be read, or was measured otherwise (another device, runtime, dtype, thread
count, statistic, clock or calls), is set aside with a warning naming what differs and measured anew. Calibrations
fitted against end-to-end timings are stored in the same file, per space and input shape.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gasnas.api import LatencyError, atomic_write_text
from gasnas.api.space import Block
from gasnas_plugins.latency import groups_of

__all__ = ["LatencyTable", "TableKey", "FORMAT"]

log = logging.getLogger(__name__)

FORMAT = "gasnas-latency-table/1"


@dataclass(frozen=True)
class TableKey:
    """What every entry of a table was measured with."""

    device: str
    runtime: str
    dtype: str
    threads: int
    #: the timing statistic and the clock it is of (tables written before these were keyed hold wall-clock medians)
    statistic: str = "median"
    clock: str = "wall"
    #: how the blocks were called (tables written before this was keyed timed each block alone: blocked)
    calls: str = "blocked"

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "runtime": self.runtime, "dtype": self.dtype, "threads": self.threads,
                "statistic": self.statistic, "clock": self.clock, "calls": self.calls}

    def differences(self, other: TableKey) -> str:
        """What ``other`` was measured with that this key differs in, e.g. ``statistic 'median' (now 'min')``."""
        mine, theirs = self.as_dict(), other.as_dict()
        return ", ".join(f"{k} {theirs[k]!r} (now {mine[k]!r})" for k in mine if mine[k] != theirs[k])


@dataclass
class LatencyTable:
    """Block signature -> ms, plus calibrations; loaded from and saved to ``path``."""

    path: Path
    key: TableKey
    entries: dict[str, float] = field(default_factory=dict)
    calibrations: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path, key: TableKey, versions: Mapping[str, str] | None = None) -> LatencyTable:
        """The table at ``path``, or an empty one (a corrupt or foreign file is moved aside with a warning)."""
        table = cls(Path(path), key, versions=dict(versions or {}))
        if not table.path.exists():
            return table
        try:
            data = json.loads(table.path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
            stored = TableKey(**data["key"])
            entries = {str(k): float(v) for k, v in data["entries"].items()}
            calibrations = dict(data.get("calibrations") or {})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            table._set_aside(f"corrupt latency table ({type(exc).__name__}: {exc})")
            return table
        if stored != key:
            table._set_aside(f"latency table measured with {key.differences(stored)}: its entries are not "
                             f"what this estimator measures")
            return table
        table.entries, table.calibrations = entries, calibrations
        return table

    def _set_aside(self, reason: str) -> None:
        backup = self.path.with_name(self.path.name + f".bad-{int(time.time())}")
        self.path.replace(backup)
        log.warning("%s: %s; moved to %s and measuring anew", self.path, reason, backup.name)

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps({
            "format": FORMAT, "key": self.key.as_dict(), "versions": self.versions,
            "entries": dict(sorted(self.entries.items())), "calibrations": self.calibrations,
        }, indent=1))

    def __contains__(self, block: Block) -> bool:
        return block.signature in self.entries

    def cost(self, block: Block) -> float:
        try:
            return self.entries[block.signature]
        except KeyError:
            raise LatencyError(f"block {block.signature} is not in the latency table {self.path}") from None

    def measure(self, blocks: Iterable[Block], timer: Callable[[Block], float], progress: Callable | None = None,
                save_every: int = 8, *, timer_many: Callable[[list[Block]], list[float]] | None = None) -> int:
        """Time every block not yet in the table (each unique signature once), in equal groups of at most
        ``save_every``: one by one with ``timer``, or each group together with ``timer_many`` (its ms in the
        group's order); the table is saved after every group. Returns how many were timed."""
        todo = list({b.signature: b for b in blocks if b not in self}.values())
        if not todo:
            return 0
        context = progress(len(todo), f"latency table ({self.key.runtime}, {self.key.device})") if progress \
            else nullcontext(None)
        with context as task:
            for group in groups_of(todo, save_every):
                times = timer_many(group) if timer_many is not None else map(timer, group)
                for block, ms in zip(group, times, strict=True):
                    self.entries[block.signature] = float(ms)
                    if task is not None:
                        task.advance()
                self.save()
        return len(todo)
