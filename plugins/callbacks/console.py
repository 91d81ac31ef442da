"""Prints one line per search epoch, and the derived architectures, to the terminal."""

from __future__ import annotations

from collections.abc import Mapping

from gasnas import hookimpl


def _fmt(metrics: Mapping[str, float]) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k not in ("epoch", "elapsed_s"))


@hookimpl
def gasnas_search_started(run) -> None:
    from gasnas.api import err_console

    if run.resumed_from_epoch is not None:
        err_console.print(f"[bold]resumed[/] {run.directory} after epoch {run.resumed_from_epoch}")
    else:
        err_console.print(f"[bold]search[/] {run.directory}")
    if run.threads is not None:
        err_console.print(f"computing on {run.device or '?'} with {run.threads}", markup=False)


@hookimpl
def gasnas_epoch_ended(run, epoch: int, metrics: Mapping[str, float]) -> None:
    from gasnas.api import err_console

    if run.kind != "search":  # gasnas train prints its own epoch lines
        return
    total = run.config.budget.epochs
    err_console.print(f"epoch {epoch + 1}/{total}  {_fmt(metrics)}  [dim]{metrics.get('elapsed_s', 0):.0f}s[/]")


@hookimpl
def gasnas_architecture_derived(run, architecture, rank: int) -> None:
    from gasnas.api import err_console

    if rank == 0:
        err_console.print(f"derived architecture {architecture.id}")
