"""Building a zoo model from its options, and loading a user-supplied state dict with errors that help.

A model class takes plain keyword arguments (:func:`arguments` maps an options dataclass to them); its factory
builds it, then loads ``weights`` with :func:`load_weights`.

Nothing is downloaded: ``weights`` is the path of a file saved with ``torch.save(model.state_dict(), path)``
(a checkpoint mapping that holds the state dict under ``model``, ``state_dict`` or ``model_state``, or a
``best.pt`` of ``gasnas train``, works too), loaded strictly by :func:`gasnas.weights.load_weights_into`: in the
model's own layout or a foreign one it declares (torchvision's keys for the ResNet-18 backbone). Keys of
training-only heads (a model's ``training_only`` prefixes) may be missing or extra, so a checkpoint trained with
auxiliary heads loads into a model built without them, and the other way round.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from gasnas.api import load_weights_into

__all__ = ["arguments", "load_weights"]


def arguments(options: Any) -> dict[str, Any]:
    """A model's constructor arguments from its options: every field but ``weights`` (that one is loaded after)."""
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options) if f.name != "weights"}


def load_weights(model: nn.Module, path: str | Path | None) -> nn.Module:
    """Load the state dict in ``path`` into ``model`` (no-op for ``None``); mismatches raise CheckpointError."""
    if path is not None:
        load_weights_into(model, path, strict=True, hint="Build the model with the options (and number of "
                                                         "classes) the file was saved with")
    return model
