"""Labelled choices, with NNI 3.0's names and sample semantics.

A search space is described by labelled choices; an architecture is a *sample*: a plain ``dict`` mapping each
label to its chosen value, exactly NNI's sample format. :class:`Categorical` is ``nni.choice`` /
``LayerChoice`` (the value is the chosen candidate); :class:`CategoricalMultiple` is ``InputChoice`` (the value
is a list of chosen indices, ``n_chosen`` long). Labels scope with ``/`` as in NNI (``cell3/op_2_0``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gasnas.errors import GasnasError, closest

__all__ = ["Mutable", "Categorical", "CategoricalMultiple", "SampleValidationError", "validate_sample",
           "random_sample", "default_sample"]


class SampleValidationError(GasnasError):
    """A sample does not belong to the space: a missing or unknown label, or a value not among the choices."""


class Mutable:
    """A labelled choice."""

    label: str

    def check(self, value: Any) -> str | None:
        """``None`` when ``value`` is a valid choice, else why not."""
        raise NotImplementedError

    def random(self, rng: random.Random) -> Any:
        raise NotImplementedError

    def default(self) -> Any:
        raise NotImplementedError

    def grid(self) -> list[Any]:
        """Every value, in order (for grid search and counting)."""
        raise NotImplementedError


class Categorical(Mutable):
    """Choose one of ``values`` (NNI: ``nni.choice`` / ``Categorical``, and ``LayerChoice`` with named candidates)."""

    def __init__(self, values: Sequence[Any], *, label: str, default: Any = None) -> None:
        values = list(values)
        if not values:
            raise ValueError(f"Categorical '{label}' needs at least one value")
        if len({repr(v) for v in values}) != len(values):
            raise ValueError(f"Categorical '{label}' has duplicate values: {values}")
        self.values = values
        self.label = label
        self._default = values[0] if default is None else default

    def check(self, value: Any) -> str | None:
        if value in self.values:
            return None
        hint = closest(str(value), [str(v) for v in self.values]) if isinstance(value, str) else ""
        return f"{value!r} is not a choice{hint}; choices: {', '.join(map(repr, self.values))}"

    def random(self, rng: random.Random) -> Any:
        return rng.choice(self.values)

    def default(self) -> Any:
        return self._default

    def grid(self) -> list[Any]:
        return list(self.values)

    def __repr__(self) -> str:
        return f"Categorical({self.values!r}, label={self.label!r})"


class CategoricalMultiple(Mutable):
    """Choose ``n_chosen`` distinct indices of ``values`` (NNI: ``InputChoice``); the sample is a sorted list."""

    def __init__(self, values: Sequence[Any], *, n_chosen: int = 1, label: str) -> None:
        self.values = list(values)
        if not 1 <= n_chosen <= len(self.values):
            raise ValueError(f"CategoricalMultiple '{label}': n_chosen={n_chosen} with {len(self.values)} values")
        self.n_chosen = n_chosen
        self.label = label

    def check(self, value: Any) -> str | None:
        if not isinstance(value, (list, tuple)) or len(value) != self.n_chosen:
            return f"expected a list of {self.n_chosen} choices, got {value!r}"
        if len(set(value)) != len(value) or any(v not in self.values for v in value):
            return f"{value!r} must be {self.n_chosen} distinct values of {self.values!r}"
        return None

    def random(self, rng: random.Random) -> list[Any]:
        return sorted(rng.sample(self.values, self.n_chosen))

    def default(self) -> list[Any]:
        return list(self.values[: self.n_chosen])

    def grid(self) -> list[Any]:
        from itertools import combinations

        return [list(c) for c in combinations(self.values, self.n_chosen)]

    def __repr__(self) -> str:
        return f"CategoricalMultiple({self.values!r}, n_chosen={self.n_chosen}, label={self.label!r})"


def validate_sample(choices: Mapping[str, Mutable], sample: Mapping[str, Any]) -> None:
    """Raise :class:`SampleValidationError` unless ``sample`` chooses a valid value for every label."""
    missing = [label for label in choices if label not in sample]
    if missing:
        raise SampleValidationError(f"sample misses {len(missing)} label(s): {', '.join(missing[:5])}"
                                    + (" ..." if len(missing) > 5 else ""))
    for label in sample:
        if label not in choices:
            raise SampleValidationError(f"sample has unknown label '{label}'{closest(label, choices)}")
        why = choices[label].check(sample[label])
        if why:
            raise SampleValidationError(f"sample['{label}']: {why}")


def random_sample(choices: Iterable[Mutable], rng: random.Random) -> dict[str, Any]:
    return {m.label: m.random(rng) for m in choices}


def default_sample(choices: Iterable[Mutable]) -> dict[str, Any]:
    return {m.label: m.default() for m in choices}
