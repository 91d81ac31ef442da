"""The ``nni`` search space: a user's NNI 3.0 ``ModelSpace`` as a gasnas :class:`SearchSpace`.

- ``choices()`` is NNI's ``space.simplify()`` in gasnas's NNI-named choices: a ``LayerChoice`` or ``nni.choice``
  is a ``Categorical`` (values: candidate names, int indices for list candidates, or the values), an
  ``InputChoice`` a ``CategoricalMultiple`` (a list of indices), a ``Repeat`` depth a ``Categorical`` of ints.
- ``build(sample)`` is ``space.freeze(sample)``: an architecture is NNI's sample dict, unchanged both ways.
- ``nni_model_space()`` is a new instance of the user's class (NNI's own strategies search it).
- ``build_supernet()`` relaxes the space for differentiable and one-shot strategies (see ``relax``); what
  cannot be relaxed is refused before training, naming the label and the primitive.
- ``cost_terms()`` describes the networks for block-table latency estimators (see ``costs``).
"""

from __future__ import annotations

import hashlib
import inspect
import math
import random
from collections.abc import Mapping
from typing import Any

from torch import nn

from gasnas.api import (
    Categorical, CategoricalMultiple, ConfigError, IncompatibleComponentsError, Mutable, SampleValidationError, closest,
    load_object,
)
from gasnas.api.space import CostTerm, SearchSpace, refuse_edge_normalization, refuse_partial_channels
from gasnas_plugins.nni_support import nas_nn, quiet, require
from gasnas_plugins.spaces.nni import NniSpaceOptions

__all__ = ["NniSearchSpace", "Numerical"]

#: the class count used to list the choices when the class needs one and no dataset has said it yet
LISTING_CLASSES = 19


class Numerical(Mutable):
    """NNI's ``Numerical`` (``nni.uniform``, ``nni.quniform``, ...): sampling strategies can draw it; relaxed
    searches cannot (they need categorical choices)."""

    def __init__(self, nni_numerical: Any) -> None:
        self.nni = nni_numerical
        self.label = nni_numerical.label

    def check(self, value: Any) -> str | None:
        error = self.nni.check_contains({self.label: value})
        return None if error is None else str(error)

    def random(self, rng: random.Random) -> Any:
        import numpy as np

        return self.nni.random(random_state=np.random.RandomState(rng.randrange(2**31)))

    def default(self) -> Any:
        return self.nni.default()

    def grid(self) -> list[Any]:
        return list(self.nni.grid(granularity=1))

    def __repr__(self) -> str:
        return f"Numerical({self.nni!r})"


class NniSearchSpace(SearchSpace):
    """A user's NNI ``ModelSpace`` (named by import path in the options) searched by gasnas."""

    def __init__(self, options: NniSpaceOptions | None = None) -> None:
        self.options = options or NniSpaceOptions()
        if self.options.space is None:
            raise ConfigError("space.params.space: name your NNI ModelSpace class by import path, e.g. "
                              "space: {name: nni, params: {space: 'mypkg.spaces:MySpace'}}")
        nas_nn()  # a clear install hint before anything else when nni is missing
        try:
            self.factory = load_object(self.options.space)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"space.params.space: cannot import '{self.options.space}' ({type(exc).__name__}: "
                              f"{exc}); is the package installed or on PYTHONPATH?") from None
        self.space = self.model_space()
        self._choices, self._constraints = self._map_choices(self.space)
        self._costs: dict[tuple, Any] = {}

    # -- the NNI space -------------------------------------------------------------------------------------------

    def _accepts_classes(self) -> tuple[bool, bool]:
        """(takes the class-count keyword, has a default for it)."""
        arg = self.options.num_classes_arg
        target = getattr(self.factory, "_init_wrapped", self.factory)  # ModelSpace wraps __init__ as (*args, **kw)
        try:
            params = inspect.signature(target).parameters
        except (TypeError, ValueError):
            return False, False
        if arg is None or arg not in params:
            return False, False
        return True, params[arg].default is not inspect.Parameter.empty

    def model_space(self, num_classes: int | None = None) -> nn.Module:
        """A new instance of the user's ModelSpace (built with ``num_classes`` when it takes a class count)."""
        kwargs = dict(self.options.args)
        takes, has_default = self._accepts_classes()
        if takes and (num_classes is not None or not has_default):
            kwargs[self.options.num_classes_arg] = num_classes or LISTING_CLASSES
        try:
            with quiet():
                space = self.factory(**kwargs)
        except Exception as exc:  # noqa: BLE001 - the user's constructor: say whose and with what
            raise ConfigError(f"space.params: building {self.options.space}(**{kwargs}) failed: "
                              f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(space, nas_nn().ModelSpace):
            raise ConfigError(f"space.params.space: {self.options.space} gave a {type(space).__name__}, not an NNI "
                              "ModelSpace (nni.nas.nn.pytorch.ModelSpace)")
        return space

    @staticmethod
    def _map_choices(space: Any) -> tuple[dict[str, Mutable], list[Any]]:
        m = require("nni.mutable")
        choices: dict[str, Mutable] = {}
        constraints = []
        for nni_label, mutable in space.simplify().items():
            label = str(nni_label)  # NNI's labels are a str subclass, which YAML and checkpoints refuse
            if isinstance(mutable, m.Categorical):
                choices[label] = Categorical(mutable.values, label=label, default=mutable.default())
            elif isinstance(mutable, m.CategoricalMultiple):
                if mutable.n_chosen is None:
                    raise IncompatibleComponentsError(
                        f"label '{label}' chooses any number of values (n_chosen=None), which gasnas samples cannot "
                        "express; give n_chosen")
                choices[label] = CategoricalMultiple(mutable.values, n_chosen=mutable.n_chosen, label=label)
            elif isinstance(mutable, m.Numerical):
                choices[label] = Numerical(mutable)
            elif isinstance(mutable, m.Constraint):
                constraints.append(mutable)
            else:
                raise IncompatibleComponentsError(f"label '{label}' is a {type(mutable).__name__}, which gasnas "
                                                  "does not support")
        return choices, constraints

    # -- the SearchSpace contract --------------------------------------------------------------------------------

    def choices(self) -> Mapping[str, Mutable]:
        return self._choices

    def validate(self, sample: Mapping[str, Any]) -> None:
        """Every label the network reads must be present and valid (NNI's ``check_contains``); labels of
        choices nested in unchosen candidates may be left out, as NNI allows."""
        for label, value in sample.items():
            if label not in self._choices:
                raise SampleValidationError(f"sample has unknown label '{label}'{closest(label, self._choices)}")
            why = self._choices[label].check(value)
            if why:
                raise SampleValidationError(f"sample['{label}']: {why}")
        error = self.space.check_contains(dict(sample))
        if error is None:
            error = next((e for c in self._constraints if (e := c.check_contains(dict(sample))) is not None), None)
        if error is not None:
            raise SampleValidationError(f"sample is not in the NNI space {self.options.space}: {error}")

    def canonical(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        """``sample`` without the labels that only inactive parts read -- blocks beyond a ``Repeat``'s depth and
        the candidates a ``LayerChoice`` does not choose -- which NNI's ``freeze`` never reads."""
        from nni.mutable import Mutable as NniMutable
        from nni.nas.nn.pytorch import LayerChoice, Repeat

        def under(name: str, roots: list[str]) -> bool:
            return any(name == r or name.startswith(r + ".") for r in roots)

        inactive: list[str] = []
        for name, module in self.space.named_modules():
            if under(name, inactive):
                continue
            prefix = f"{name}." if name else ""
            if isinstance(module, Repeat) and isinstance(module.depth_choice, NniMutable):
                try:
                    depth = int(module.depth_choice.freeze(dict(sample)))
                except Exception:  # noqa: BLE001 - a sample without the depth keeps every block
                    continue
                inactive += [f"{prefix}blocks.{i}" for i in range(depth, len(module.blocks))]
            elif isinstance(module, LayerChoice) and module.label in sample:
                inactive += [f"{prefix}{n}" for n in module.names if str(n) != str(sample[module.label])]
        read_inactive, read_active = set(), set()
        for name, module in self.space.named_modules():
            labels = {label for mutable in getattr(module, "mutables", ()) for label in mutable.simplify()}
            (read_inactive if under(name, inactive) else read_active).update(labels)
        dropped = read_inactive - read_active
        return {k: v for k, v in sample.items() if k not in dropped}

    def random_sample(self, rng: random.Random) -> dict[str, Any]:
        for _ in range(1000):  # constraints (ExpressionConstraint) reject some samples
            sample = {label: m.random(rng) for label, m in self._choices.items()}
            if all(c.check_contains(sample) is None for c in self._constraints):
                return sample
        raise IncompatibleComponentsError(f"no random sample of {self.options.space} met its constraints in 1000 tries")

    def log10_size(self) -> float:
        if any(isinstance(m, Numerical) for m in self._choices.values()):
            return math.inf
        return super().log10_size()

    def build(self, sample: Mapping[str, Any], num_classes: int) -> nn.Module:
        """``space.freeze(sample)`` of a new instance: NNI's own stand-alone network for the sample."""
        self.validate(sample)
        with quiet():
            return self.model_space(num_classes).freeze(dict(sample))

    def nni_model_space(self, num_classes: int) -> nn.Module:
        """The user's ModelSpace itself: a new instance, built with ``num_classes`` (capability ``nni``)."""
        return self.model_space(num_classes)

    def build_supernet(self, num_classes: int, *, partial_channels: int = 1, edge_normalization: bool = False,
                       keep_originals: bool = False):
        """The relaxed space; raises :class:`IncompatibleComponentsError` for what cannot be relaxed, for partial
        channels (the user's modules are arbitrary: nothing says which channels could bypass them) and for edge
        normalisation (the user's modules combine their inputs as they please)."""
        refuse_partial_channels(self, partial_channels, "an NNI space's candidates are arbitrary modules, whose "
                                "channels gasnas cannot split")
        refuse_edge_normalization(self, edge_normalization, "an NNI space's modules sum (or otherwise combine) "
                                  "their inputs as they please, so gasnas has no node sum to weight")
        from gasnas_plugins.spaces.nni.mixed import MixingState
        from gasnas_plugins.spaces.nni.relax import Relaxer
        from gasnas_plugins.spaces.nni.supernet import NniSupernet

        numerical = [label for label, m in self._choices.items() if isinstance(m, Numerical)]
        if numerical:
            raise IncompatibleComponentsError(
                f"label '{numerical[0]}' is a Numerical choice ({self._choices[numerical[0]].nni!r}): relaxed "
                "searches need categorical choices (nni.choice); use a sampling strategy, or nni.choice over a few "
                "values")
        if self._constraints:
            raise IncompatibleComponentsError(
                f"the space has constraint '{self._constraints[0].label}', which a relaxed search cannot enforce; "
                "use a sampling strategy")
        net = self.model_space(num_classes)
        relaxer = Relaxer(MixingState(), keep_originals=keep_originals)
        with quiet():
            relaxer.relax(net)
        missing = [label for label in self._choices if label not in relaxer.covered]
        if missing:
            raise IncompatibleComponentsError(
                f"label '{missing[0]}' ({self._choices[missing[0]]!r}) is not used by any LayerChoice, InputChoice, "
                "Repeat, Cell or Mutable layer argument that a supernet can relax (it is probably read with "
                "ensure_frozen while the space is built); express it with one of those, or use a sampling strategy")
        return NniSupernet(net, relaxer)

    def cost_terms(self, input_shape: tuple[int, ...], sample: Mapping[str, Any] | None = None,
                   num_classes: int = 19) -> list[CostTerm]:
        """The network as blocks: the whole reference network, minus its choices' reference candidates, plus
        each relaxed choice's candidates (see :mod:`gasnas_plugins.spaces.nni.costs`)."""
        from gasnas_plugins.spaces.nni.costs import NetworkCosts

        if sample is not None:
            self.validate(sample)
        key = (tuple(input_shape), num_classes)
        if key not in self._costs:
            self._costs[key] = NetworkCosts(self, tuple(input_shape), num_classes)
        return self._costs[key].terms(sample)

    def describe(self, sample: Mapping[str, Any]) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in list(sample.items())[:4])
        return f"{len(sample)} choices: {shown}" + (", ..." if len(sample) > 4 else "")

    def fingerprint(self) -> str:
        blob = f"{self.options.space}:{sorted(self.options.args.items())!r}"
        return f"nni-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"
