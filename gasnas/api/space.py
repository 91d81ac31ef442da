"""The search space contract: labelled choices, stand-alone networks, supernets, and what latency tables time.

A space has up to three capabilities (declared when it registers, checked before a search runs):

- ``sampling``: :meth:`SearchSpace.random_sample` and :meth:`SearchSpace.build` give concrete networks
  (multi-trial and evolutionary strategies need this);
- ``supernet``: :meth:`SearchSpace.build_supernet` gives a weight-sharing :class:`Supernet` whose choices are
  relaxed by mixing weights (differentiable and one-shot strategies need this);
- ``nni``: :meth:`SearchSpace.nni_model_space` gives the space as an NNI 3.0 ``ModelSpace`` with the same labels
  (NNI's one-shot strategies, run by the ``nni`` strategy, need this).

For latency lookup tables a space describes its networks as :class:`CostTerm` s made of :class:`Block` s: units
that a runtime executes as one fused kernel group and that can be timed on their own.
"""

from __future__ import annotations

import heapq
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gasnas.errors import IncompatibleComponentsError
from gasnas.mutable import Mutable, default_sample, random_sample, validate_sample

__all__ = ["SearchSpace", "Supernet", "RelaxedChoice", "Block", "CostTerm", "Condition", "Factor", "GRANULARITIES",
           "kbest", "log_scores", "refuse_edge_normalization", "refuse_partial_channels", "supernet_of"]


@dataclass(frozen=True)
class Block:
    """A unit a latency table times on its own: one fused operation at one place (shapes) in a network.

    ``key`` is its signature (operation, channels, strides, ...) and, with the input shapes, the table key;
    two places with the same signature and shapes share one measurement.
    """

    key: str
    input_shapes: tuple[tuple[int, ...], ...]
    factory: Callable[[], nn.Module] = field(compare=False, hash=False, repr=False)

    @property
    def signature(self) -> str:
        shapes = ";".join("x".join(map(str, s)) for s in self.input_shapes)
        return f"{self.key}@{shapes}"


#: one condition of a :class:`CostTerm`'s ``given``: (relaxed choice key, candidate index)
Condition = tuple[str, int]


@dataclass(frozen=True)
class CostTerm:
    """A part of a network's cost: one candidate (always present) or relaxed choices among several.

    ``group`` says where the term sits (``stem``, ``cell3``, ``head``): calibrations fit one correction per
    group. ``weight`` is the expected share of the term that survives derivation (e.g. 2 of 4 incoming edges).

    ``key`` names the relaxed choice the candidates are indexed by. A term whose cost depends on several choices
    (an operation at an input width and an output width) names them all, ``key=(k1, k2, ...)``: its candidates
    are then indexed by the tuple of their candidates, row-major (``candidates[i1 * n2 + i2]`` for two), and the
    expectation sums over the joint distribution (the choices independent). ``given`` makes the term count only
    when one of its alternatives holds: each alternative is a conjunction of conditions (choice, candidate), the
    alternatives are mutually exclusive, and the expectation is multiplied by their summed probability (a cell
    that is in the network only on some paths: one alternative per path).
    """

    group: str
    candidates: tuple[tuple[Block, ...], ...]
    key: str | tuple[str, ...] | None = None
    weight: float = 1.0
    #: index of the candidate meaning "no operation", if any (see :attr:`RelaxedChoice.zero`); with several
    #: keys, one entry (or None) per key
    zero: int | tuple[int | None, ...] | None = None
    given: tuple[tuple[Condition, ...], ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """The relaxed choices the candidates are indexed by (none for a fixed term)."""
        if self.key is None:
            return ()
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)

    @property
    def zeros(self) -> tuple[int | None, ...]:
        """Per key, the index of its "no operation" candidate (or None)."""
        if isinstance(self.zero, tuple):
            return self.zero
        return (self.zero,) + (None,) * (len(self.keys) - 1) if self.keys else ()


#: decision granularities a :class:`RelaxedChoice` may declare (FasterSeg's op / path / width; PC-DARTS' edge)
GRANULARITIES = ("op", "path", "width", "edge")


@dataclass(frozen=True)
class RelaxedChoice:
    """A choice the supernet relaxes: ``key`` names its architecture parameter, one entry per candidate.

    ``granularity`` says what the choice decides -- ``op`` (an operation), ``path`` (which input a cell reads),
    ``width`` (a channel count) or ``edge`` (PC-DARTS' edge normalisation: one choice per node over its incoming
    edges, candidates the sources' indices, whose weights scale the edges' outputs in the node's sum and whose
    log-probabilities add to the kept edges' scores in a derivation; no cost term is keyed by it) -- for losses
    that treat the kinds apart (FasterSeg's decoupled latency) and for strategies and communicators that relax or
    read only some kinds (edge choices are always relaxed by a plain softmax).
    ``held`` is the candidate such a loss holds the choice at while it relaxes another granularity (None: the
    loss's own rule, uniform or argmax)."""

    key: str
    candidates: tuple[str, ...]
    group: str = ""
    #: index of the candidate that means "no operation" (DARTS' zero), if any
    zero: int | None = None
    granularity: str = "op"
    held: int | None = None


@dataclass(frozen=True)
class Factor:
    """An independent part of a derivation: alternative partial samples with their log-scores."""

    options: tuple[tuple[float, Mapping[str, Any]], ...]


def kbest(factors: Sequence[Factor], k: int) -> list[tuple[float, dict[str, Any]]]:
    """The ``k`` best combinations of independent factors (one option each), by total log-score, best first."""
    if k < 1:
        raise ValueError("k must be >= 1")
    ranked = [sorted(f.options, key=lambda o: -o[0]) for f in factors]
    if any(not r for r in ranked):
        return []
    start = (0,) * len(ranked)

    def score(idx: tuple[int, ...]) -> float:
        return sum(r[i][0] for r, i in zip(ranked, idx))

    heap = [(-score(start), start)]
    seen = {start}
    out: list[tuple[float, dict[str, Any]]] = []
    while heap and len(out) < k:
        neg, idx = heapq.heappop(heap)
        sample: dict[str, Any] = {}
        for r, i in zip(ranked, idx):
            sample.update(r[i][1])
        out.append((-neg, sample))
        for pos in range(len(idx)):
            if idx[pos] + 1 < len(ranked[pos]):
                nxt = idx[:pos] + (idx[pos] + 1,) + idx[pos + 1:]
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (-score(nxt), nxt))
    return out


def log_scores(probs: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``log(probs)`` per choice in float64 on the CPU, floored at -1e4 (a zero weight is "never", not NaN).

    :meth:`Supernet.derive` reads its weights through this: they may be unnormalised positive scores, e.g.
    probabilities times ``exp(-mu * latency)``, whose logs differ by far more than float32 probabilities hold."""
    return {k: torch.log(v.detach().double().cpu()).clamp_min(-1e4) for k, v in probs.items()}


class Supernet(nn.Module, ABC):
    """A weight-sharing network holding every candidate; ``forward(x, mixing)`` mixes them.

    ``mixing`` maps each :class:`RelaxedChoice` key to a weight vector over its candidates: softmax
    probabilities, a Gumbel-softmax sample, or a one-hot vector (single path; candidates with weight 0 are
    skipped, so a one-hot mixing costs one path).
    """

    @abstractmethod
    def relaxed_choices(self) -> Sequence[RelaxedChoice]:
        """Every relaxed choice, in network order; ``group`` tells which cell it belongs to."""

    @abstractmethod
    def forward(self, x: Tensor, mixing: Mapping[str, Tensor]) -> Any:
        """Logits (or a :class:`~gasnas.api.model.SegmentationOutput`) of ``x`` under ``mixing``."""

    @abstractmethod
    def derive(self, probs: Mapping[str, Tensor], top_k: int = 1) -> list[tuple[dict[str, Any], float]]:
        """The ``top_k`` most probable samples under ``probs`` with their log-scores, best first.

        ``probs`` are positive weights per candidate, read as log-scores with :func:`log_scores` (they need not
        be normalised: a latency-aware derivation passes probabilities times ``exp(-mu * cost)``); a sample's
        score is the sum of the log-scores of the candidates it keeps."""

    @abstractmethod
    def mixing_for(self, sample: Mapping[str, Any]) -> dict[str, Tensor]:
        """The one-hot mixing under which the supernet computes exactly the network of ``sample``."""

    def gather_evidence(self, probs: Mapping[str, Tensor], accuracy: Callable[[Mapping[str, Any]], float],
                        latency: Callable[[Mapping[str, Any]], float]) -> None:
        """Before a strategy's final :meth:`derive`: a supernet whose derivation weighs more than ``probs`` (e.g.
        FasterSeg's head choice by accuracy and latency) measures what it needs here -- ``accuracy(sample)`` scores
        a derived network on the supernet's weights, ``latency(sample)`` estimates it -- and keeps it for
        :meth:`derive`. Nothing by default."""


class SearchSpace(ABC):
    """A family of segmentation networks described by labelled choices (NNI's sample format)."""

    @abstractmethod
    def choices(self) -> Mapping[str, Mutable]:
        """label -> choice, like NNI's ``space.simplify()``."""

    def validate(self, sample: Mapping[str, Any]) -> None:
        """Raise :class:`~gasnas.mutable.SampleValidationError` when ``sample`` is not in the space."""
        validate_sample(self.choices(), sample)

    def random_sample(self, rng: random.Random) -> dict[str, Any]:
        return random_sample(self.choices().values(), rng)

    def default_sample(self) -> dict[str, Any]:
        return default_sample(self.choices().values())

    def canonical(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        """``sample`` without the choices that do not change the network it builds (e.g. those of blocks a
        repeat's depth leaves out): two samples build the same network exactly when their canonical forms are
        equal. Derivations use it so that a top-k holds k different networks. Default: the sample itself."""
        return dict(sample)

    def size(self) -> float:
        """The number of architectures (log10 when huge, see :meth:`log10_size`)."""
        return 10 ** self.log10_size()

    def log10_size(self) -> float:
        return sum(math.log10(len(m.grid())) for m in self.choices().values())

    @abstractmethod
    def build(self, sample: Mapping[str, Any], num_classes: int) -> nn.Module:
        """A stand-alone network for ``sample`` (eval mode returns ``N x num_classes x H x W`` logits)."""

    def build_supernet(self, num_classes: int, *, partial_channels: int = 1,
                       edge_normalization: bool = False) -> Supernet:
        """A weight-sharing supernet over the space (capability ``supernet``).

        ``partial_channels`` is PC-DARTS' K, asked for by a strategy to save memory: every mixed edge sends only
        the first ``C / K`` of its ``C`` channels through its candidates, the rest bypass them (downsampled like
        the candidates' output across a stride), and a channel shuffle with K groups interleaves the two parts.
        Only the supernet changes (derived networks are full width). K = 1 (the default) is the plain supernet
        and every space must accept it; a space that cannot mix a fraction of its channels raises
        :class:`~gasnas.errors.IncompatibleComponentsError` for K > 1 (see :func:`refuse_partial_channels`).

        ``edge_normalization`` is PC-DARTS' edge normalisation: every node of a cell also relaxes a choice of
        granularity ``edge`` over its incoming edges (see :class:`RelaxedChoice`), whose mixing weights scale
        each edge's output in the node's sum, and a derivation adds its log-probabilities to the scores of the
        edges it keeps. Off (the default), the supernet is the plain one; a space without nodes that sum edges
        raises :class:`~gasnas.errors.IncompatibleComponentsError` when it is on (see
        :func:`refuse_edge_normalization`). Strategies build through :func:`supernet_of`, which also serves
        spaces whose ``build_supernet`` predates the keywords."""
        raise IncompatibleComponentsError(f"search space {type(self).__name__} cannot build a supernet")

    def nni_model_space(self, num_classes: int) -> nn.Module:
        """The space as an NNI 3.0 ``ModelSpace`` (``nni.nas.nn.pytorch.ModelSpace``) whose ``simplify()`` has
        the labels and values of :meth:`choices` and whose ``freeze(sample)`` builds the network of ``sample``
        (capability ``nni``). Raises :class:`~gasnas.errors.IncompatibleComponentsError` when the space has no
        NNI form."""
        raise IncompatibleComponentsError(
            f"search space {type(self).__name__} has no NNI form (it does not implement nni_model_space), so NNI's "
            "one-shot strategies cannot relax it; implement nni_model_space and register the space with the 'nni' "
            "capability, or search it with NNI's Random or RegularizedEvolution, which only sample")

    def cost_terms(self, input_shape: tuple[int, ...], sample: Mapping[str, Any] | None = None,
                   num_classes: int = 19) -> list[CostTerm]:
        """The network as timed blocks: with ``sample`` the concrete network (single-candidate terms); without,
        the supernet's relaxed terms keyed by :class:`RelaxedChoice` key. Needed by block-table estimators."""
        raise IncompatibleComponentsError(
            f"search space {type(self).__name__} does not describe its networks as blocks, so block-table latency "
            "estimators cannot be used with it; use an estimator that times whole networks")

    def latency_weights(self) -> Mapping[str, float]:
        """Default weights of a decoupled latency term, per granularity of the supernet's relaxed choices (see
        :class:`RelaxedChoice`); empty: equal weights over the granularities the supernet has."""
        return {}

    def render(self, sample: Mapping[str, Any], directory: Path) -> list[Path]:
        """Pictures of the architecture (e.g. one PNG per cell) written into ``directory``; none by default."""
        return []

    def describe(self, sample: Mapping[str, Any]) -> str:
        """A one-line human summary of ``sample``."""
        return f"{len(sample)} choices"

    def fingerprint(self) -> str:
        """A stable id of this space with its options: calibrations and caches are keyed by it."""
        import hashlib

        blob = f"{type(self).__module__}.{type(self).__qualname__}:{getattr(self, 'options', None)!r}"
        return f"{type(self).__name__}-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"


def refuse_partial_channels(space: SearchSpace, partial_channels: int, why: str) -> None:
    """For a :meth:`SearchSpace.build_supernet` that cannot mix a fraction of its channels: nothing when
    ``partial_channels`` is 1, else the :class:`~gasnas.errors.IncompatibleComponentsError` naming the space, the
    option and ``why``."""
    if partial_channels != 1:
        raise IncompatibleComponentsError(
            f"search space {type(space).__name__} cannot build a supernet with partial channels "
            f"(strategy.params.partial_channels: {partial_channels}): {why}; set partial_channels: 1")


def refuse_edge_normalization(space: SearchSpace, edge_normalization: bool, why: str) -> None:
    """For a :meth:`SearchSpace.build_supernet` without nodes that sum weighted edges: nothing when
    ``edge_normalization`` is off, else the :class:`~gasnas.errors.IncompatibleComponentsError` naming the space,
    the option and ``why``."""
    if edge_normalization:
        raise IncompatibleComponentsError(
            f"search space {type(space).__name__} cannot build a supernet with edge normalisation "
            f"(strategy.params.edge_normalization: true): {why}; set edge_normalization: false")


def supernet_of(space: SearchSpace, num_classes: int, partial_channels: int = 1,
                edge_normalization: bool = False) -> Supernet:
    """``space.build_supernet(num_classes, partial_channels=K, edge_normalization=True)``, each keyword passed
    only when asked for (K > 1, edge normalisation on): a space whose ``build_supernet`` takes only
    ``num_classes`` still builds its plain supernet, and refuses what it does not take with a clear error
    instead of a ``TypeError``."""
    if partial_channels < 1:
        raise ValueError(f"partial_channels must be >= 1, got {partial_channels}")
    asked: dict[str, Any] = {}
    if partial_channels != 1:
        asked["partial_channels"] = partial_channels
    if edge_normalization:
        asked["edge_normalization"] = True
    if not asked:
        return space.build_supernet(num_classes)
    import inspect

    parameters = inspect.signature(space.build_supernet).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        if "partial_channels" in asked and "partial_channels" not in parameters:
            refuse_partial_channels(space, partial_channels, "its build_supernet takes no partial_channels")
        if "edge_normalization" in asked and "edge_normalization" not in parameters:
            refuse_edge_normalization(space, edge_normalization, "its build_supernet takes no edge_normalization")
    return space.build_supernet(num_classes, **asked)
