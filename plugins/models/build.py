"""Building a zoo model from its options, and loading a user-supplied state dict with errors that help.

A model class takes plain keyword arguments (:func:`arguments` maps an options dataclass to them); its factory
builds it, then loads ``weights`` with :func:`load_weights`.

Nothing is downloaded: ``weights`` is the path of a file saved with ``torch.save(model.state_dict(), path)``
(a checkpoint mapping that holds the state dict under ``model``, ``state_dict`` or ``model_state`` works too).
Keys of training-only heads (a model's ``training_only`` prefixes) may be missing or extra, so a checkpoint
trained with auxiliary heads loads into a model built without them, and the other way round.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gasnas.api import CheckpointError

__all__ = ["arguments", "load_weights", "read_state_dict"]

NESTED_KEYS = ("model", "state_dict", "model_state")
MAX_LISTED = 5


def arguments(options: Any) -> dict[str, Any]:
    """A model's constructor arguments from its options: every field but ``weights`` (that one is loaded after)."""
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options) if f.name != "weights"}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict stored in ``path``; a :class:`CheckpointError` when it is missing or not a state dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist; pass the path of a state dict saved with "
                              "torch.save(model.state_dict(), path) (pretrained weights are never downloaded)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle means the file is not usable
        raise CheckpointError(f"weights file {path} cannot be read as a torch state dict "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
    for key in NESTED_KEYS:
        if isinstance(data, Mapping) and isinstance(data.get(key), Mapping):
            data = data[key]
            break
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"weights file {path} holds a {type(data).__name__}, not a state dict of tensors; "
                              "save one with torch.save(model.state_dict(), path)")
    return {k.removeprefix("module."): v for k, v in data.items()}


def _listed(keys: list[str]) -> str:
    more = f" (and {len(keys) - MAX_LISTED} more)" if len(keys) > MAX_LISTED else ""
    return ", ".join(keys[:MAX_LISTED]) + more


def load_weights(model: nn.Module, path: str | Path | None) -> nn.Module:
    """Load the state dict in ``path`` into ``model`` (no-op for ``None``); mismatches raise CheckpointError."""
    if path is None:
        return model
    state = read_state_dict(path)
    own = model.state_dict()
    optional = tuple(getattr(model, "training_only", ()))

    def required(key: str) -> bool:
        return not key.startswith(optional) if optional else True

    missing = [k for k in own if k not in state and required(k)]
    unexpected = [k for k in state if k not in own and required(k)]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in own.items() if k in state and state[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listed(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches: {_listed(shapes)}")
    if problems:
        raise CheckpointError(f"weights file {path} does not fit {type(model).__name__}: {'; '.join(problems)}. "
                              "Build the model with the options (and number of classes) the file was saved with")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return model
