"""gasnas spaces as NNI model spaces, for NNI's strategies.

- a space with the ``nni`` capability: its own NNI form, :meth:`SearchSpace.nni_model_space
  <gasnas.api.space.SearchSpace.nni_model_space>` (the ``nni`` space: the user's ``ModelSpace``; ``gas``: NNI
  ``Cell`` s with the same labels);
- any other space that samples and builds: :class:`SampledModelSpace`, a ``ModelSpace`` holding NNI
  ``Categorical`` / ``CategoricalMultiple`` mirrors of its choices whose ``freeze(sample)`` is gasnas's
  ``build(sample)``. Multi-trial strategies need no more; one-shot strategies need NNI modules to relax, which
  such a space does not have, so they are refused for it (when the config loads: the options'
  ``required_capabilities``).

Nothing here knows a concrete space: only the :class:`~gasnas.api.space.SearchSpace` contract.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from torch import nn

from gasnas.api import Categorical, CategoricalMultiple, IncompatibleComponentsError
from gasnas.api.space import SearchSpace
from gasnas_plugins.nni_support import nas_nn, require

__all__ = ["nni_model_space", "nni_choice", "SampledModelSpace"]

log = logging.getLogger(__name__)


def nni_choice(label: str, values: list[Any], n_chosen: int | None = None) -> Any:
    """An NNI ``Categorical`` (or ``CategoricalMultiple``) with a scoped label such as ``cell0/2_0``: NNI
    refuses ``/`` in a label and builds scoped ones with ``label_scope``."""
    m = require("nni.mutable")
    *scopes, name = label.split("/")
    with ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(m.label_scope(scope))
        if n_chosen is None:
            return m.Categorical(values, label=name)
        return m.CategoricalMultiple(values, n_chosen=n_chosen, label=name)


def _sampled_model_space_class() -> type:
    ModelSpace = nas_nn().ModelSpace

    class SampledModelSpace(ModelSpace, label_prefix=None):
        """Any gasnas space as an NNI ``ModelSpace`` for multi-trial strategies: its choices as NNI mutables,
        ``freeze(sample)`` = the gasnas space's ``build(sample)``."""

        def __init__(self, space: SearchSpace, num_classes: int) -> None:
            super().__init__()
            self.gasnas_space, self.num_classes = space, num_classes
            for label, choice in space.choices().items():
                if isinstance(choice, CategoricalMultiple):
                    self.add_mutable(nni_choice(label, list(choice.values), choice.n_chosen))
                elif isinstance(choice, Categorical):
                    self.add_mutable(nni_choice(label, list(choice.values)))
                else:
                    raise IncompatibleComponentsError(f"label '{label}' ({choice!r}) has no NNI counterpart")

        def freeze(self, sample: Mapping[str, Any]) -> nn.Module:
            return self.gasnas_space.build(dict(sample), self.num_classes)

        def forward(self, x):  # a model space is not a network; freeze a sample first
            raise RuntimeError("SampledModelSpace is a description; freeze(sample) gives the network")

    return SampledModelSpace


def SampledModelSpace(space: SearchSpace, num_classes: int) -> nn.Module:  # noqa: N802 - a class, built lazily
    return _sampled_model_space_class()(space, num_classes)


def nni_model_space(space: SearchSpace, num_classes: int, *, one_shot: bool, algorithm: str = "") -> nn.Module:
    """The NNI ``ModelSpace`` of a gasnas space: its own NNI form (capability ``nni``); for multi-trial
    strategies, a space without one is mirrored as a :class:`SampledModelSpace`. One-shot strategies need the
    NNI form (the config loader has checked the capability)."""
    try:
        return space.nni_model_space(num_classes)
    except IncompatibleComponentsError as exc:
        if one_shot:
            raise IncompatibleComponentsError(f"NNI's {algorithm} needs the space's NNI form: {exc}") from exc
        log.debug("search space %s has no NNI form (%s): NNI samples it through SampledModelSpace",
                  type(space).__name__, exc)
    return SampledModelSpace(space, num_classes)
