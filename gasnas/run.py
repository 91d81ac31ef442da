"""The run directory: resolved config, metrics, checkpoints and results of one search or training run.

Layout::

    runs/20261127-101500-gas-differentiable/
        config.yaml          the fully resolved config
        metrics.jsonl        one JSON line per epoch
        checkpoint.pt        the latest epoch's state (written atomically, with a SHA-256 of its content)
        checkpoint.prev.pt   the epoch before (kept when the next one is written)
        architecture.yaml    the best architecture (NNI sample format + metadata)
        architectures/       the top-k, ranked
        summary.json         final metrics and files

Only the main process (rank 0) writes.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gasnas.errors import CheckpointError
from gasnas.io import atomic_write, atomic_write_text, stray_temporaries

if TYPE_CHECKING:
    from gasnas.architecture import Architecture
    from gasnas.config import SearchConfig
    from gasnas.threads import Threads

__all__ = ["RunDirectory", "RunInfo", "SearchResult", "CHECKPOINT_FORMAT", "load_checkpoint", "unseal"]

log = logging.getLogger(__name__)

#: the format of a checkpoint's content
CHECKPOINT_FORMAT = "gasnas-checkpoint/1"
#: a checkpoint file: the content's bytes and their SHA-256, so that a damaged or edited file is refused
SEALED_FORMAT = "gasnas-checkpoint-sealed/1"


class RunDirectory:
    """Paths and atomic I/O of a run directory. ``writable=False`` (non-main ranks) turns writes into no-ops."""

    def __init__(self, path: str | Path, *, writable: bool = True) -> None:
        self.path = Path(path)
        self.writable = writable

    config_file = property(lambda self: self.path / "config.yaml")
    metrics_file = property(lambda self: self.path / "metrics.jsonl")
    checkpoint_file = property(lambda self: self.path / "checkpoint.pt")
    previous_checkpoint_file = property(lambda self: self.path / "checkpoint.prev.pt")
    architecture_file = property(lambda self: self.path / "architecture.yaml")
    summary_file = property(lambda self: self.path / "summary.json")

    @classmethod
    def create(cls, output: str | Path, name: str, *, writable: bool = True) -> RunDirectory:
        """A new run directory ``output/name`` (``-2``, ``-3``... appended when it exists)."""
        base = Path(output) / name
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        if writable:
            path.mkdir(parents=True)
        return cls(path, writable=writable)

    def write_config(self, config: SearchConfig) -> None:
        if self.writable:
            atomic_write_text(self.config_file, yaml.safe_dump(config.to_dict(), sort_keys=False))

    def write_text(self, relative: str, text: str) -> Path:
        path = self.path / relative
        if self.writable:
            atomic_write_text(path, text)
        return path

    # -- metrics -----------------------------------------------------------------------------------------------

    def append_metrics(self, record: Mapping[str, Any]) -> None:
        if not self.writable:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.metrics_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(dict(record), default=float) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_file.is_file():
            return []
        records = []
        for i, line in enumerate(self.metrics_file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a kill mid-write leaves a torn last line: drop it
                if i != len(self.metrics_file.read_text(encoding="utf-8").splitlines()):
                    raise CheckpointError(f"{self.metrics_file}:{i}: corrupt metrics line") from None
        return records

    def truncate_metrics(self, last_epoch: int) -> None:
        """Keep the records of epochs up to ``last_epoch`` (those after the checkpoint are redone on resume)."""
        if not self.writable or not self.metrics_file.exists():
            return
        kept = [r for r in self.read_metrics() if r.get("epoch", -1) <= last_epoch]
        atomic_write_text(self.metrics_file, "".join(json.dumps(r) + "\n" for r in kept))

    # -- checkpoints -------------------------------------------------------------------------------------------

    def save_checkpoint(self, payload: Mapping[str, Any], path: Path | None = None) -> None:
        """Write a checkpoint atomically, sealed with the SHA-256 of its content: a kill at any moment leaves the
        previous one or the new one. The run's own checkpoint keeps the one it replaces as
        ``checkpoint.prev.pt``."""
        if not self.writable:
            return
        keep = self.previous_checkpoint_file if path is None else None
        sealed = seal({"format": CHECKPOINT_FORMAT, **payload})
        atomic_write(path or self.checkpoint_file, lambda f: f.write(sealed), keep=keep)

    def load_checkpoint(self, path: Path | None = None) -> dict[str, Any] | None:
        """The checkpoint to resume from, ``None`` when there is none. The run's own: ``checkpoint.pt``, else
        (a kill between two renames, or the user removed a damaged one) ``checkpoint.prev.pt``. A corrupt or
        altered one raises :class:`CheckpointError`; temporary files of interrupted writes are removed."""
        if path is not None:
            return load_checkpoint(path, missing_ok=True)
        if self.writable:
            for stray in stray_temporaries(self.checkpoint_file):
                log.info("removing %s, left by an interrupted checkpoint write", stray)
                stray.unlink(missing_ok=True)
        current, previous = self.checkpoint_file, self.previous_checkpoint_file
        if current.is_file():
            try:
                return load_checkpoint(current)
            except CheckpointError as exc:
                if previous.is_file():
                    raise CheckpointError(f"{exc}. The checkpoint before it is intact: move {current.name} away "
                                          f"and resume again to continue from {previous.name}") from None
                raise
        if previous.is_file():
            log.warning("%s: no %s; resuming from %s, the checkpoint before it", self.path, current.name,
                        previous.name)
            return load_checkpoint(previous)
        return None


def seal(payload: Mapping[str, Any]) -> bytes:
    """A checkpoint file's bytes: ``payload`` serialised, with the SHA-256 of that serialisation."""
    import torch

    content = io.BytesIO()
    torch.save(dict(payload), content)
    blob = content.getvalue()
    out = io.BytesIO()
    torch.save({"format": SEALED_FORMAT, "sha256": hashlib.sha256(blob).hexdigest(),
                "content": torch.frombuffer(bytearray(blob), dtype=torch.uint8)}, out)
    return out.getvalue()


def unseal(data: Any, path: str | Path) -> Any:
    """The payload of a sealed checkpoint, ``data`` as ``torch.load`` read it from ``path``, its checksum
    verified (a :class:`CheckpointError` when it does not match); anything not sealed is returned unchanged."""
    import torch

    if isinstance(data, dict) and data.get("format") == SEALED_FORMAT:
        blob = data["content"].numpy().tobytes()
        if hashlib.sha256(blob).hexdigest() != data.get("sha256"):
            raise CheckpointError(f"{path}: checksum mismatch: the file changed after it was written (damaged "
                                  "storage, an interrupted copy, or an edit); it is not resumed")
        data = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    return data


def load_checkpoint(path: str | Path, *, missing_ok: bool = False) -> dict[str, Any] | None:
    """Load a gasnas checkpoint (tensors and plain containers only: no pickled code is executed)."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return None
        raise CheckpointError(f"{path}: checkpoint not found")
    unreadable = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError, KeyError,
                  TypeError, AttributeError, UnicodeDecodeError)
    try:
        data = unseal(torch.load(path, map_location="cpu", weights_only=True), path)
    except unreadable as exc:
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); delete it to start over") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a gasnas checkpoint (expected format {CHECKPOINT_FORMAT})")
    return data


@dataclass
class RunInfo:
    """What event hooks learn about the run (``device`` and ``threads``: what computes it)."""

    directory: Path
    config: SearchConfig
    is_main: bool = True
    resumed_from_epoch: int | None = None
    started: float = field(default_factory=time.time)
    device: str = ""
    threads: Threads | None = None
    #: "search", or "train" for ``gasnas train`` (whose ``config`` is then the training config)
    kind: str = "search"


@dataclass
class SearchResult:
    """What a strategy returns: architectures best first, final metrics, files it wrote (name -> path), and
    warnings about the result a user must read (a search that learned nothing says so)."""

    architectures: list[Architecture]
    metrics: dict[str, float] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def best(self) -> Architecture:
        return self.architectures[0]
