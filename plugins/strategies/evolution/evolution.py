"""Regularized evolution (Real et al., AAAI 2019) under a hard latency limit, and the Pareto front.

Plain Python over samples (label -> choice): no torch here. :class:`Proposer` draws random and mutated
architectures under the limit; :class:`RegularizedEvolution` keeps the population (oldest first) and the
history of every scored architecture, and both serialise to plain containers for checkpoints.

Scoring is the costly step, and it can run elsewhere: the initial population is drawn first and scored as one
batch, and :meth:`RegularizedEvolution.breed` breeds several children from the population as it stands before
scoring them together (one child at a time is the paper's sequential algorithm). The batch is scored by the
``score_many`` callable, which an executor may spread over processes; the draws never depend on where scoring
ran, so neither does the result.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gasnas.api import LatencyError, Mutable

__all__ = ["Candidate", "Proposer", "RegularizedEvolution", "pareto_front", "sample_key", "mutate"]


def sample_key(sample: Mapping[str, Any]) -> str:
    """A canonical text of a sample: equal samples, equal keys."""
    return json.dumps(sample, sort_keys=True)


@dataclass(frozen=True)
class Candidate:
    """A scored architecture: its sample, its estimated latency, its score (val mIoU, higher is better) and its
    loss (val cross-entropy, lower is better); ``fitness`` says which of the two ranks it first."""

    sample: dict[str, Any]
    latency: float
    score: float
    loss: float = 0.0
    fitness: str = "metric"

    @property
    def key(self) -> str:
        return sample_key(self.sample)

    @property
    def merit(self) -> tuple[float, float]:
        """What "better" means: fitness ``metric``: the higher score, then the lower loss (a young supernet that
        predicts one class everywhere gives every path the same mIoU, but not the same loss); ``loss``: the
        lower loss, then the higher score."""
        if self.fitness == "loss":
            return -self.loss, self.score
        return self.score, -self.loss


def mutate(choices: Mapping[str, Mutable], sample: Mapping[str, Any], prob: float,
           rng: random.Random) -> dict[str, Any]:
    """A copy of ``sample`` where each choice changes with probability ``prob``; at least one always changes."""
    mutable = [label for label, m in choices.items() if len(m.grid()) > 1]
    child = dict(sample)
    changed = [label for label in mutable if rng.random() < prob]
    if not changed and mutable:
        changed = [rng.choice(mutable)]
    for label in changed:
        others = [v for v in choices[label].grid() if v != sample[label]]
        child[label] = rng.choice(others)
    return child


class Proposer:
    """Random and mutated architectures whose estimated latency is within ``limit`` (``None``: no limit)."""

    def __init__(self, choices: Mapping[str, Mutable], random_sample: Callable[[random.Random], dict[str, Any]],
                 estimate: Callable[[Mapping[str, Any]], float], limit: float | None, max_tries: int,
                 mutation_prob: float) -> None:
        self.choices = choices
        self.random_sample = random_sample
        self._estimate = estimate
        self.limit = limit
        self.max_tries = max_tries
        self.mutation_prob = mutation_prob
        self.latencies: dict[str, float] = {}

    def latency(self, sample: Mapping[str, Any], remember: bool = True) -> float:
        """The estimated latency, cached when ``remember`` (timing estimators measure each architecture once)."""
        key = sample_key(sample)
        if key in self.latencies:
            return self.latencies[key]
        value = float(self._estimate(sample))
        if remember:
            self.latencies[key] = value
        return value

    def feasible(self, sample: Mapping[str, Any], remember: bool = True) -> bool:
        return self.limit is None or self.latency(sample, remember) <= self.limit

    def random(self, rng: random.Random, remember: bool = True) -> dict[str, Any]:
        """A random architecture under the limit (rejection sampling); ``remember=False`` caches no latency (for
        the many paths of supernet training)."""
        fastest = float("inf")
        for _ in range(self.max_tries):
            sample = self.random_sample(rng)
            if self.limit is None:
                return sample
            latency = self.latency(sample, remember)
            if latency <= self.limit:
                return sample
            fastest = min(latency, fastest)
        raise LatencyError(f"no random architecture under the latency limit {self.limit:.4g} in {self.max_tries} "
                           f"tries (the fastest was {fastest:.4g}); raise latency.target or "
                           "strategy.params.latency_limit, or raise strategy.params.max_tries")

    def mutant(self, parent: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
        """A mutation of ``parent`` under the limit; after ``max_tries`` misses, a random one under the limit."""
        for _ in range(self.max_tries):
            child = mutate(self.choices, parent, self.mutation_prob, rng)
            if self.feasible(child):
                return child
        return self.random(rng)

    def state_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "latencies": dict(self.latencies)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.limit = state["limit"]
        self.latencies = dict(state["latencies"])


class RegularizedEvolution:
    """Aging evolution: a tournament of ``sample_size`` picks the parent, the child joins, the oldest dies.

    ``score(sample) -> (score, loss)`` is called once per distinct architecture (see :attr:`Candidate.merit`);
    ``score_many(samples, progress) -> [(score, loss), ...]``, when given, scores a batch of them instead (in
    order; ``progress()`` once per sample). The history keeps every architecture scored, which the Pareto front
    is computed from.
    """

    def __init__(self, proposer: Proposer, score: Callable[[Mapping[str, Any]], tuple[float, float]], population: int,
                 sample_size: int, fitness: str = "metric",
                 score_many: Callable[..., Sequence[tuple[float, float]]] | None = None) -> None:
        self.proposer = proposer
        self.fitness = fitness
        self._score = score
        self._score_many = score_many
        self.size = population
        self.sample_size = sample_size
        self.population: list[str] = []  # keys, oldest first
        self.history: dict[str, Candidate] = {}

    def _score_new(self, samples: Sequence[dict[str, Any]], progress: Callable[[], None] | None) -> None:
        """Score the samples not in the history (each distinct one once), as one batch; ``progress`` once per
        sample given."""
        new = {sample_key(s): s for s in samples if sample_key(s) not in self.history}
        batch = list(new.values())
        if self._score_many is not None:
            scores = list(self._score_many(batch, progress))
        else:
            scores = []
            for sample in batch:
                scores.append(self._score(sample))
                if progress is not None:
                    progress()
        for (key, sample), (score, loss) in zip(new.items(), scores):
            self.history[key] = Candidate(sample, self.proposer.latency(sample), float(score), float(loss),
                                          self.fitness)
        for _ in range(len(samples) - len(batch)):  # already scored
            if progress is not None:
                progress()

    def seed_population(self, rng: random.Random, progress: Callable[[], None] | None = None) -> None:
        """Fill the population with random architectures under the limit, drawn first, then scored together."""
        samples = [self.proposer.random(rng) for _ in range(self.size - len(self.population))]
        self._score_new(samples, progress)
        self.population.extend(sample_key(s) for s in samples)

    def breed(self, rng: random.Random, children: int = 1,
              progress: Callable[[], None] | None = None) -> list[Candidate]:
        """``children`` steps at once: each child from a tournament over the population as it stands and a
        mutation; the children are scored together, then join in order, each one's arrival ageing out the
        oldest. ``children=1`` is the paper's sequential step (ours: larger batches let an executor score them
        at the same time)."""
        kids = []
        for _ in range(children):
            contestants = rng.sample(self.population, self.sample_size)
            parent = max(contestants, key=lambda k: self.history[k].merit)
            kids.append(self.proposer.mutant(self.history[parent].sample, rng))
        self._score_new(kids, progress)
        for kid in kids:
            self.population.append(sample_key(kid))
            self.population.pop(0)
        return [self.history[sample_key(kid)] for kid in kids]

    def cycle(self, rng: random.Random) -> Candidate:
        """One step: tournament, mutation, scoring of the child, death of the oldest."""
        return self.breed(rng, 1)[0]

    def best(self) -> Candidate:
        """The best architecture scored so far (all are under the limit); ties go to the faster."""
        return max(self.history.values(), key=lambda c: (*c.merit, -c.latency))

    def state_dict(self) -> dict[str, Any]:
        return {"population": list(self.population),
                "history": [asdict(c) for c in self.history.values()]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.population = list(state["population"])
        self.history = {}
        for record in state["history"]:
            candidate = Candidate(dict(record["sample"]), float(record["latency"]), float(record["score"]),
                                  float(record.get("loss", 0.0)), str(record.get("fitness", "metric")))
            self.history[candidate.key] = candidate


def pareto_front(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The non-dominated candidates (no other is both at least as fast and better, by :attr:`Candidate.merit`),
    fastest first."""
    front: list[Candidate] = []
    for c in sorted(candidates, key=lambda c: (c.latency, *(-m for m in c.merit))):
        if not front or c.merit > front[-1].merit:
            front.append(c)
    return front
