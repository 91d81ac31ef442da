"""Parsing input shapes given on the command line (``1x3x1024x2048``)."""

from __future__ import annotations

import click

__all__ = ["parse_shape"]


def parse_shape(value: str | None) -> tuple[int, int, int, int] | None:
    """``"NxCxHxW"`` -> a 4-tuple; ``None`` stays ``None``."""
    if value is None:
        return None
    parts = value.lower().replace("*", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 4 or min(dims) < 1:
        raise click.BadParameter(f"expected NxCxHxW with positive integers, e.g. 1x3x1024x2048; got {value!r}",
                                 param_hint="--input")
    return dims  # type: ignore[return-value]
