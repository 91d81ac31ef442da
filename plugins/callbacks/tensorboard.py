"""TensorBoard event files in every run directory, beside ``metrics.jsonl``: searches and ``gasnas train`` alike.

``tensorboard --logdir runs`` then shows every run. What is written, by tag, against the run's step:

- ``step/<name>``: each training step's values (``gasnas_step_ended``);
- ``epoch/<name>``: each epoch's record of ``metrics.jsonl`` (``gasnas_epoch_ended``), at the epoch's last step
  (at the epoch counted from 1 when the run reports no steps: a strategy that trains nothing step by step);
- ``pictures/<name>``: the pictures a search lists when it finishes (the cells, evolution's Pareto front).

The plugin writes whenever TensorBoard is installed (``pip install 'gasnas[tensorboard]'``) and does nothing
otherwise; ``GASNAS_DISABLE_PLUGINS=callbacks.tensorboard`` switches it off. A run that continues a directory
with event files (a resumed run) starts a new file that tells TensorBoard to drop the earlier points from its
first step on: the steps a kill interrupted are shown once, as redone.
"""

from __future__ import annotations

import atexit
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gasnas import hookimpl

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

#: metric keys that are bookkeeping, not curves
SKIPPED = ("epoch", "elapsed_s")
#: pictures a search lists that the scalars already show
NOT_PICTURES = ("curves",)


@dataclass
class _Log:
    """A run's open event file, and the last step written to it (the epochs' records are written at it)."""

    writer: SummaryWriter
    last_step: int | None = None
    last_epoch_x: int = 0


#: the open log of each run directory
_logs: dict[Path, _Log] = {}


def installed() -> bool:
    """Whether TensorBoard is installed (the plugin writes only then)."""
    return importlib.util.find_spec("tensorboard") is not None


def _summary_writer() -> type[SummaryWriter]:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception as exc:  # noqa: BLE001 - installed but broken (e.g. a protobuf clash): say what to do
        from gasnas.api import PluginError

        raise PluginError(f"plugin 'callbacks.tensorboard': TensorBoard is installed but fails to import "
                          f"({type(exc).__name__}: {exc}); reinstall it with pip install 'gasnas[tensorboard]', or "
                          "switch the plugin off with GASNAS_DISABLE_PLUGINS=callbacks.tensorboard") from exc
    return SummaryWriter


def _log(run: Any, first: int | None) -> _Log | None:
    """The run's log, opened by its first event; ``None`` on other ranks or without TensorBoard. ``first`` is
    that event's step: when the directory holds event files already, TensorBoard drops their points from it on
    (``None``: a picture, which drops nothing)."""
    directory = Path(run.directory)
    if directory in _logs:
        return _logs[directory]
    if not run.is_main or not installed():
        return None
    writer_type = _summary_writer()
    earlier = first is not None and any(directory.glob("events.out.tfevents.*"))
    if not _logs:
        atexit.register(close_all)
    _logs[directory] = _Log(writer_type(log_dir=str(directory), purge_step=first if earlier else None))
    return _logs[directory]


def _scalars(writer: SummaryWriter, prefix: str, metrics: Mapping[str, Any], step: int) -> None:
    for key, value in metrics.items():
        if key not in SKIPPED and isinstance(value, (int, float)):
            writer.add_scalar(f"{prefix}/{key}", float(value), step)


def _close(run: Any) -> None:
    entry = _logs.pop(Path(run.directory), None)
    if entry is not None:
        entry.writer.close()


def close_all() -> None:
    """Close every open log (at exit: a run that stopped on an error leaves its log open)."""
    for entry in _logs.values():
        entry.writer.close()
    _logs.clear()


@hookimpl
def gasnas_search_started(run) -> None:
    _close(run)  # a log left open by a run of this directory killed in this process: this one resumes it


@hookimpl
def gasnas_step_ended(run, step: int, metrics: Mapping[str, float]) -> None:
    entry = _log(run, step)
    if entry is None:
        return
    if entry.last_step is not None and step <= entry.last_step:  # a resume within this process went back
        _close(run)
        entry = _log(run, step)
    _scalars(entry.writer, "step", metrics, step)
    entry.last_step = step


@hookimpl
def gasnas_epoch_ended(run, epoch: int, metrics: Mapping[str, float]) -> None:
    entry = _log(run, epoch + 1)
    if entry is None:
        return
    entry.last_epoch_x = epoch + 1 if entry.last_step is None else entry.last_step
    _scalars(entry.writer, "epoch", metrics, entry.last_epoch_x)
    entry.writer.flush()
    if run.kind == "train" and epoch + 1 == run.config.train.epochs:  # gasnas train has no finished event
        _close(run)


@hookimpl
def gasnas_search_finished(run, result) -> None:
    import numpy as np
    from PIL import Image

    entry = _log(run, None)
    if entry is None:
        return
    for name, path in result.files.items():
        if name not in NOT_PICTURES and Path(path).suffix == ".png" and Path(path).is_file():
            with Image.open(path) as image:
                picture = np.asarray(image.convert("RGB"))
            entry.writer.add_image(f"pictures/{name}", picture, entry.last_epoch_x, dataformats="HWC")
    _close(run)
