"""Atomic file writes: a temporary file in the same directory, flushed to disk, then renamed over the target.

A kill at any moment leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_bytes", "cache_dir", "stray_temporaries"]


def cache_dir(*parts: str) -> Path:
    """gasnas's cache directory (``$GASNAS_CACHE_DIR``, else ``$XDG_CACHE_HOME/gasnas``, else ``~/.cache/gasnas``)."""
    root = os.environ.get("GASNAS_CACHE_DIR")
    if not root:
        root = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gasnas")
    return Path(root, *parts)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any], *, keep: str | Path | None = None) -> Path:
    """Call ``write(file)`` on a temporary file, fsync it, and rename it to ``path``; with ``keep``, the file it
    replaces is renamed to ``keep`` first (a kill in between leaves ``keep`` and the temporary file, never
    neither)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if keep is not None and path.exists():
            os.replace(path, keep)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def stray_temporaries(path: str | Path) -> list[Path]:
    """Temporary files :func:`atomic_write` left beside ``path`` when a kill interrupted a write."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
