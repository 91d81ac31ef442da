"""The architecture type: a label -> choice mapping (NNI's sample format) with the space that gives it meaning.

An architecture file is YAML::

    format: gasnas-architecture/1
    id: 3f2a9c1b0d4e
    space: {name: gas, params: {preset: gas-tiny}}
    sample: {cell0/op_2_0: sep_conv_3x3, cell0/input_2_0: [0], ...}
    metadata: {estimated_latency_ms: 3.1, ...}

``sample`` is what NNI's ``space.freeze(sample)`` takes; building a network from it is a separate step
(``space.build(sample)``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gasnas.errors import ConfigError
from gasnas.io import atomic_write_text

__all__ = ["Architecture", "FORMAT"]

FORMAT = "gasnas-architecture/1"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return value


@dataclass(frozen=True)
class Architecture:
    """A concrete architecture: ``sample`` (label -> choice) in the space ``space_name`` built with ``space_params``."""

    sample: Mapping[str, Any]
    space_name: str
    space_params: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """A stable id: the same space and sample always give the same 12 hex digits."""
        blob = json.dumps({"space": self.space_name, "params": _plain(self.space_params),
                           "sample": _plain(self.sample)}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def with_metadata(self, **metadata: Any) -> Architecture:
        return Architecture(self.sample, self.space_name, self.space_params, {**self.metadata, **metadata})

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "space": {"name": self.space_name, "params": _plain(self.space_params)},
            "sample": _plain(self.sample),
            "metadata": _plain(self.metadata),
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    @classmethod
    def from_dict(cls, data: Any, source: str = "<architecture>") -> Architecture:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ConfigError(f"{source}: not a gasnas architecture file (expected 'format: {FORMAT}')")
        space = data.get("space")
        sample = data.get("sample")
        if not isinstance(space, Mapping) or not isinstance(space.get("name"), str):
            raise ConfigError(f"{source}: space: expected a mapping with a 'name'")
        if not isinstance(sample, Mapping):
            raise ConfigError(f"{source}: sample: expected a mapping of label -> choice")
        arch = cls(dict(sample), space["name"], dict(space.get("params") or {}), dict(data.get("metadata") or {}))
        if "id" in data and data["id"] != arch.id:
            raise ConfigError(f"{source}: id {data['id']} does not match its content ({arch.id}); "
                              "the file was edited or corrupted")
        return arch

    @classmethod
    def load(cls, path: str | Path) -> Architecture:
        path = Path(path)
        from gasnas.config import read_yaml  # sizes and alias expansion bounded as for configs

        if not path.is_file():
            raise ConfigError(f"{path}: architecture file not found")
        data, _ = read_yaml(path)
        return cls.from_dict(data, str(path))
