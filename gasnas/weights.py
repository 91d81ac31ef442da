"""Weights people bring: a state dict file loaded into a network, in the network's own key layout or a foreign one.

A weights file is one of

- a state dict, ``torch.save(model.state_dict(), path)``;
- a mapping holding one under ``state_dict``, ``model`` or ``model_state`` (the usual training checkpoints);
- a gasnas checkpoint (``best.pt``/``checkpoint.pt`` of ``gasnas train``), whose seal is checked.

Keys saved from ``nn.DataParallel`` lose their ``module.`` prefix. Nothing is ever downloaded, and only tensors
and plain containers are unpickled (``weights_only``).

The file's keys are matched with the network's in the network's own layout and in every
:class:`~gasnas.api.model.WeightLayout` that the network or a module inside it declares (``weight_layouts``);
the layout under which the most tensors fit wins. A layout declared by a submodule fills that submodule only
(torchvision's ResNet-18 keys fill the ``backbone.`` of ``bisenetv1-r18``), and the rest of the network keeps
its initialisation. :class:`WeightMatch` says what fits: the tensors loaded, the network's keys the file lacks
(*missing*, counted only inside the part the layout fills), the file's keys with no place in the network
(*unexpected*) and the tensors whose shapes differ. A strict load refuses any of these; a partial one loads
what fits. Keys of training-only heads (a network's ``training_only`` prefixes) may be missing or extra, and
so may BatchNorm's ``num_batches_tracked`` counters (files saved before PyTorch 0.4.1 have none).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gasnas.api.model import WeightLayout
from gasnas.errors import CheckpointError

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = ["WeightMatch", "read_weights", "match_weights", "load_weights_into"]

NESTED_KEYS = ("state_dict", "model", "model_state")
OPTIONAL_SUFFIXES = (".num_batches_tracked",)
MAX_LISTED = 5
OWN_LAYOUT = WeightLayout("own", lambda key: key, "the network's own keys")


def read_weights(path: str | Path, *, label: str = "weights file") -> dict[str, Tensor]:
    """The state dict stored in ``path``; a :class:`CheckpointError` (naming ``label`` and the file) when it is
    missing, unreadable or holds no state dict."""
    import torch

    from gasnas.run import unseal

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{label} {path} does not exist; pass the path of a state dict saved with "
                              "torch.save(model.state_dict(), path) (pretrained weights are never downloaded)")
    try:
        data = unseal(torch.load(path, map_location="cpu", weights_only=True), path)  # a gasnas checkpoint: checked
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle means the file is not usable
        raise CheckpointError(f"{label} {path} cannot be read as a torch state dict "
                              f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]})") from None
    for key in NESTED_KEYS:
        if isinstance(data, Mapping) and isinstance(data.get(key), Mapping):
            data = data[key]
            break
    if not isinstance(data, Mapping) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{label} {path} holds a {type(data).__name__}, not a state dict of tensors; save one "
                              "with torch.save(model.state_dict(), path)")
    return {str(k).removeprefix("module."): v for k, v in data.items()}


def _listed(keys: list[str]) -> str:
    more = f" (and {len(keys) - MAX_LISTED} more)" if len(keys) > MAX_LISTED else ""
    return ", ".join(keys[:MAX_LISTED]) + more


@dataclass
class WeightMatch:
    """How a state dict fits a network under one layout (see the module's description)."""

    layout: WeightLayout
    tensors: dict[str, Tensor] = field(repr=False)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    untouched: int = 0

    @property
    def complete(self) -> bool:
        """Whether a strict load accepts it: nothing missing, unexpected or of another shape."""
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def where(self) -> str:
        """The layout, and the part of the network it fills, in words."""
        into = f" into {self.layout.prefix.rstrip('.')}" if self.layout.prefix else ""
        return f"in the {self.layout.name} layout{into}" if self.layout is not OWN_LAYOUT else "in its own layout"

    def problems(self) -> list[str]:
        """One phrase per kind of mismatch, naming the first keys."""
        shapes = [f"{k}: file {tuple(a)} vs network {tuple(b)}" for k, a, b in self.mismatched]
        return [f"{what}: {_listed(keys)}" for what, keys in (
            ("missing keys", self.missing), ("unexpected keys", self.unexpected), ("shape mismatches", shapes)) if keys]

    def summary(self) -> str:
        """What was loaded and what was not, in one paragraph."""
        text = f"{len(self.tensors)} tensors fit {self.where}"
        if self.dropped:
            text += f" ({len(self.dropped)} left out by the layout: {_listed(self.dropped)})"
        if self.untouched:
            text += f"; {self.untouched} tensors of the network keep their initialisation"
        return "; ".join([text, *self.problems()])

    def to_dict(self) -> dict[str, Any]:
        """Every key, for a report file."""
        return {"layout": self.layout.name, "into": self.layout.prefix, "loaded": sorted(self.tensors),
                "missing": self.missing, "unexpected": self.unexpected,
                "mismatched": [{"key": k, "file": list(a), "network": list(b)} for k, a, b in self.mismatched],
                "dropped": self.dropped, "untouched": self.untouched}


def _layouts(model: nn.Module) -> Iterator[WeightLayout]:
    """The network's own layout, then those its modules declare, each under the module's name."""
    yield OWN_LAYOUT
    for name, module in model.named_modules():
        for layout in getattr(module, "weight_layouts", None) or ():
            yield layout.under(f"{name}." if name else "")


def _match(layout: WeightLayout, state: Mapping[str, Tensor], own: Mapping[str, Tensor],
           optional: tuple[str, ...]) -> WeightMatch:
    match = WeightMatch(layout, {})
    for file_key, value in state.items():
        key = layout.key(file_key)
        if key is None:
            match.dropped.append(file_key)
        elif key not in own:
            if not key.startswith(optional):
                match.unexpected.append(file_key)
        elif value.shape != own[key].shape:
            match.mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            match.tensors[key] = value
    mismatched = {k for k, _, _ in match.mismatched}
    match.missing = [k for k in own if k.startswith(layout.prefix) and k not in match.tensors and k not in mismatched
                     and not k.startswith(optional) and not k.endswith(OPTIONAL_SUFFIXES)]
    match.untouched = len(own) - len(match.tensors)
    return match


def match_weights(model: nn.Module, state: Mapping[str, Tensor]) -> WeightMatch:
    """How ``state`` fits ``model``: under the layout (its own or a declared one) where the most tensors fit."""
    own = model.state_dict()
    optional = tuple(getattr(model, "training_only", ()))
    return max((_match(layout, state, own, optional) for layout in _layouts(model)), key=lambda m: len(m.tensors))


def load_weights_into(model: nn.Module, path: str | Path, *, strict: bool = True, label: str = "weights file",
                      hint: str = "") -> WeightMatch:
    """Load the weights file ``path`` into ``model``; strict: everything must fit (else a CheckpointError listing
    what does not, ending with ``hint``); partial: what fits is loaded, and at least one tensor must."""
    match = match_weights(model, read_weights(path, label=label))
    if (strict and not match.complete) or not match.tensors:
        problems = match.problems() or [f"none of its {len(match.dropped)} tensors has a place in the network"]
        raise CheckpointError(f"{label} {path} does not fit {type(model).__name__} ({match.where}): "
                              f"{'; '.join(problems)}. {hint}".rstrip())
    model.load_state_dict(match.tensors, strict=False)
    return match
