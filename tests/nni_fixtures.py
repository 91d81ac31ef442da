"""Fixtures of the NNI interop tests (import them by name into a test module)."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

NNI_PLUGINS = ("gasnas_plugins.spaces.nni", "gasnas_plugins.strategies.nni")


@pytest.fixture
def nni_plugins(pm, register) -> None:
    """The nni space and strategy plugins, registered when the default plugins do not already hold them."""
    for module in NNI_PLUGINS:
        name = module.removeprefix("gasnas_plugins.")
        if name not in pm.plugins and importlib.util.find_spec(module) is not None:
            register(importlib.import_module(module), name=name)
