"""The console layer: rich progress bars, tables and error panels. Only the CLI and console plugins use it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from gasnas.reporting import ProgressTask, Reporter

__all__ = ["console", "err_console", "RichReporter", "print_error", "table", "fmt", "warning_rows"]

console = Console()
err_console = Console(stderr=True)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class _RichTask(ProgressTask):
    def __init__(self, progress: Progress, total: int | None, description: str) -> None:
        super().__init__(total, description)
        self._progress = progress
        self._id = progress.add_task(description, total=total, metrics="")

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        self._progress.advance(self._id, n)

    def update(self, **fields: Any) -> None:
        super().update(**fields)
        text = "  ".join(f"{k} {fmt(v)}" for k, v in self.fields.items())
        self._progress.update(self._id, metrics=text)


class RichReporter(Reporter):
    """Progress bars with ETA and live metrics; nested tasks share one live display."""

    def __init__(self, out: Console | None = None) -> None:
        self.console = out or err_console
        self._progress: Progress | None = None
        self._depth = 0

    @contextmanager
    def progress(self, total: int | None, description: str) -> Iterator[ProgressTask]:
        if self._progress is None:
            self._progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"),
                console=self.console, transient=False)
            self._progress.start()
        self._depth += 1
        task = _RichTask(self._progress, total, description)
        try:
            yield task
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._progress.stop()
                self._progress = None

    def message(self, text: str) -> None:
        (self._progress.console if self._progress else self.console).print(text)


def print_error(message: str, title: str = "error") -> None:
    """One red panel on a terminal; one plain, unwrapped line when stderr is a file or pipe (logs, CI, grep)."""
    if err_console.is_terminal:
        err_console.print(Panel(message, title=f"[bold red]{title}", border_style="red", expand=False),
                          markup=False)
    else:
        err_console.print(f"{title}: {message}", markup=False, highlight=False, soft_wrap=True)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None) -> Table:
    t = Table(title=title, caption=caption, header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*(fmt(v) for v in row))
    return t


def warning_rows(warnings: Sequence[str]) -> list[tuple[str, str]]:
    """Rows for a final two-column table: one yellow ``warning`` row per warning, its text shown as written."""
    from rich.markup import escape

    return [("[bold yellow]warning[/]", escape(text)) for text in warnings]


def metrics_table(title: str, metrics: Mapping[str, Any]) -> Table:
    return table(title, ["metric", "value"], [(k, v) for k, v in metrics.items()])
