"""What a trained network is: a searched architecture or a registered model, and how to build it.

``TARGET`` on the command line is an architecture file (``architecture.yaml`` from a search), the name of a
registered model, or -- for ``eval``/``export``/``benchmark`` -- a training checkpoint (or the run directory
holding ``best.pt``). A :class:`NetworkSpec` is the plain, storable description; checkpoints keep it so that
the network can be rebuilt without the original files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gasnas.api import (
    Architecture, CheckpointError, ConfigError, Location, UnknownComponentError, options_to_dict, parse_options,
)

if TYPE_CHECKING:
    from torch import nn

    from gasnas.api import PluginManager

__all__ = ["NetworkSpec", "resolve_target", "is_checkpoint_target", "checkpoint_path"]

CHECKPOINT_SUFFIXES = (".pt", ".pth")
ARCHITECTURE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class NetworkSpec:
    """A buildable network: ``kind`` "model" (a registered model and its params) or "architecture"."""

    kind: str
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    architecture: Architecture | None = None

    @classmethod
    def for_model(cls, name: str, params: Mapping[str, Any] | None = None) -> NetworkSpec:
        return cls("model", name, dict(params or {}))

    @classmethod
    def for_architecture(cls, arch: Architecture) -> NetworkSpec:
        return cls("architecture", arch.space_name, dict(arch.space_params), arch)

    def describe(self) -> str:
        if self.architecture is not None:
            return f"architecture {self.architecture.id} of space '{self.name}'"
        return f"model '{self.name}'"

    @property
    def slug(self) -> str:
        """A short name for run directories."""
        return f"{self.name}-{self.architecture.id[:8]}" if self.architecture is not None else self.name

    def to_dict(self) -> dict[str, Any]:
        if self.architecture is not None:
            return {"kind": "architecture", "architecture": self.architecture.to_dict()}
        return {"kind": "model", "name": self.name, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Any, source: str = "<checkpoint>") -> NetworkSpec:
        if not isinstance(data, Mapping) or data.get("kind") not in ("model", "architecture"):
            raise CheckpointError(f"{source}: the network description is missing or unknown ({data!r:.80})")
        if data["kind"] == "architecture":
            return cls.for_architecture(Architecture.from_dict(data.get("architecture"), source))
        return cls.for_model(str(data.get("name")), data.get("params") or {})

    def build(self, num_classes: int, pm: PluginManager) -> nn.Module:
        """The network, freshly initialised, with ``num_classes`` outputs."""
        if self.architecture is not None:
            comp = pm.registry("search spaces").get(self.name)
            where = Location(f"architecture {self.architecture.id}")
            options = parse_options(comp.options, self.params, ("space", "params"), where) if comp.options else None
            space = comp.build(options)
            space.validate(self.architecture.sample)
            return space.build(self.architecture.sample, num_classes)
        comp = pm.registry("models").get(self.name)
        options = parse_options(comp.options, self.params, ("model", "params"), Location("model")) \
            if comp.options else None
        return comp.build(num_classes, options)


def is_checkpoint_target(target: str) -> bool:
    path = Path(target)
    return path.suffix in CHECKPOINT_SUFFIXES or (path.is_dir() and (path / "best.pt").is_file())


def checkpoint_path(target: str | Path) -> Path:
    """``target`` itself, or ``best.pt`` (else ``checkpoint.pt``) in a run directory."""
    path = Path(target)
    if path.is_dir():
        for name in ("best.pt", "checkpoint.pt"):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path}: no best.pt or checkpoint.pt in this folder; is it a gasnas train run?")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    return path


def resolve_target(target: str, pm: PluginManager, model_params: Mapping[str, Any] | None = None) -> NetworkSpec:
    """An architecture file (or a search's run directory: its ``architecture.yaml``) or a registered model name
    -> :class:`NetworkSpec` (``model_params`` are checked against the model's options)."""
    path = Path(target)
    if path.is_dir() and (path / "architecture.yaml").is_file():  # a search's run directory: its best architecture
        path = path / "architecture.yaml"
    if path.suffix in ARCHITECTURE_SUFFIXES or path.is_file():
        if not path.is_file():
            raise ConfigError(f"{path}: architecture file not found")
        if path.suffix in CHECKPOINT_SUFFIXES:
            raise ConfigError(f"{path}: a checkpoint; train takes an architecture file or a model name "
                              "(continue a killed run with --resume RUN_DIR)")
        arch = Architecture.load(path)
        pm.registry("search spaces").get(arch.space_name)  # an unknown space fails here, naming the known ones
        if model_params:
            raise ConfigError(f"{path}: model params apply to registered models, not to architecture files")
        return NetworkSpec.for_architecture(arch)
    try:
        comp = pm.registry("models").get(target)
    except UnknownComponentError as exc:
        raise UnknownComponentError(f"'{target}' is not an architecture file, and {exc}") from None
    params = parse_options(comp.options, model_params, ("model", "params"), Location("model")) if comp.options \
        else None
    if params is None and model_params:
        raise ConfigError(f"model '{target}' takes no params")
    return NetworkSpec.for_model(target, options_to_dict(params) if params is not None else {})
