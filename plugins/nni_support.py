"""The shared NNI library of the default plugins: importing NNI 3.0 lazily, quietly, with an install hint.

The ``nni`` search space and the ``nni`` strategy both import NNI through this module, and a third-party
plugin may too; it is not a plugin itself (it registers nothing), and it imports neither torch nor nni until
:func:`require` is called.

NNI is an optional extra: ``pip install 'gasnas[nni]'`` (nni==3.0 plus pytorch-lightning, which nni's NAS
package imports without declaring it). Its first import takes seconds, rewrites one of its own files
(``nni/nas/nn/pytorch/_layers.py``) and warns about every torch module it does not know; those warnings say
nothing a gasnas user can act on, so they are silenced here.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from types import ModuleType

from gasnas.api import MissingDependencyError

__all__ = ["available", "require", "nas_nn", "quiet"]


def available() -> bool:
    """True when nni and pytorch-lightning are installed (nothing is imported)."""
    return all(importlib.util.find_spec(m) is not None for m in ("nni", "pytorch_lightning"))


class quiet(warnings.catch_warnings):
    """Silence NNI's import-time and deprecation warnings inside a ``with`` block."""

    def __enter__(self):
        out = super().__enter__()
        warnings.simplefilter("ignore")
        return out


def require(module: str = "nni", purpose: str = "for NNI model spaces and strategies") -> ModuleType:
    """Import ``module`` (an ``nni...`` module), or raise :class:`MissingDependencyError` naming the extra."""
    for dependency in ("nni", "pytorch_lightning"):
        if importlib.util.find_spec(dependency) is None:
            raise MissingDependencyError.for_module(dependency, extra="nni", purpose=purpose)
    with quiet():
        return importlib.import_module(module)


def nas_nn() -> ModuleType:
    """``nni.nas.nn.pytorch``: ModelSpace, LayerChoice, InputChoice, Repeat, Cell, ParametrizedModule."""
    return require("nni.nas.nn.pytorch")
