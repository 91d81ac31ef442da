"""Single-path one-shot search: train the supernet one sampled path per step, then evolve under a latency limit.

Phase 1 (the first ``budget.epochs - generations`` epochs) trains the supernet's shared weights; each step runs
one path, ``supernet(x, supernet.mixing_for(sample))``, sampled uniformly or among the architectures under the
latency limit (SPOS, Guo et al. 2020). Phase 2 (the last ``generations`` epochs) runs regularized evolution
(Real et al. 2019) over the trained weights: each candidate is scored by the evaluator's val metric on its own
path after recalibrating BN statistics, and only architectures whose estimated latency is within the hard
limit are proposed. Every epoch of both phases ends in a checkpoint. The result is the Pareto set of latency
against score, best under the limit first, written with ``pareto.yaml`` and ``pareto.png``.

The candidates of each generation are scored through the config's executor (``executor:``; serial by default):
with ``ray`` each is a Ray task on a copy of the supernet, and the search gives the serial executor's result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from gasnas.api import (
    ConfigError, Executor, LatencyError, SearchContext, SearchResult, SerialExecutor, ensure_finite, open_executor,
    random_state, restore_random, rng,
)
from gasnas.api.model import as_output
from gasnas.api.strategy import SearchStrategy
from gasnas_plugins.strategies.evolution import EvolutionOptions
from gasnas_plugins.strategies.evolution.evolution import Proposer, RegularizedEvolution, pareto_front
from gasnas_plugins.strategies.evolution.pareto import draw_front, write_front
from gasnas_plugins.strategies.evolution.scoring import PathScorer, ScoringJob, resize_batch, score_path
from gasnas_plugins.strategies.supernet import DIVERGED_ADVICE, criterion, weight_optimizer

__all__ = ["EvolutionSearch"]

#: loader stream of the BN calibration batches (the training loader is stream 0)
CALIBRATION_STREAM = 7


class EvolutionSearch(SearchStrategy):
    """See the module docstring; options: :class:`EvolutionOptions`."""

    options: EvolutionOptions

    def __init__(self, options: EvolutionOptions | None = None) -> None:
        super().__init__(options or EvolutionOptions())

    # -- set-up -------------------------------------------------------------------------------------------------

    def _check(self, ctx: SearchContext) -> None:
        if ctx.budget.epochs <= self.options.generations:
            raise ConfigError(
                f"budget.epochs ({ctx.budget.epochs}) must exceed strategy.params.generations "
                f"({self.options.generations}): the first epochs train the supernet, the last `generations` evolve; "
                "raise budget.epochs or lower generations")
        executor = getattr(ctx.config, "executor", None)
        if ctx.dist.enabled and executor is not None and executor.name != "serial":
            raise ConfigError(f"executor.name: '{executor.name}' scores candidates in tasks of their own, while under "
                              "torchrun every rank scores its share of the val batches; use one or the other")
        if ctx.latency is None:
            raise LatencyError("the evolution strategy searches under a latency limit and needs a 'latency' section "
                               "naming an estimator (e.g. latency: {name: lut})")

    def _setup(self, ctx: SearchContext) -> None:
        o = self.options
        self.ctx = ctx
        self.supernet_epochs = ctx.budget.epochs - o.generations
        self.supernet = ctx.space.build_supernet(ctx.num_classes).to(ctx.device)
        self.model = ctx.wrap(self.supernet)
        self.optimizer, self.schedule = weight_optimizer(self.supernet.parameters(), o, self.supernet_epochs)
        self.criterion = criterion(ctx, o.class_weight_power)
        self.rng = rng(ctx.seed, "evolution")  # the paths of phase 1, the population and mutations of phase 2
        self.proposer = Proposer(ctx.space.choices(), ctx.space.random_sample, ctx.estimate_latency, None,
                                 o.max_tries, o.mutation_prob)
        self.evolution = RegularizedEvolution(self.proposer, self._score, o.population, o.sample_size, o.fitness,
                                              score_many=self._score_many)
        self.executor: Executor = SerialExecutor()
        self.metric = ctx.evaluator.primary_metric
        self.scorer = PathScorer(self.supernet, ctx.evaluator, ctx.dataset, ctx.device, self._calibration_batches(ctx),
                                 self._validation_batches(ctx), o.resize, ctx.dataset.ignore_index)
        self.probe: dict[str, Any] | None = None

    def _calibration_batches(self, ctx: SearchContext) -> list:
        """The same un-augmented train batches for every candidate (no RNG consumed: resumes replay them); full
        batches only, as in training (a last batch of one image could not be batch-normalised)."""
        loader = ctx.loader("train", train=False, shuffle=True, drop_last=True, stream=CALIBRATION_STREAM)
        return [batch for _, batch in zip(range(self.options.bn_batches), loader)]

    def _validation_batches(self, ctx: SearchContext):
        """The first `val_batches` val batches, held in memory; the whole split's loader when it is null."""
        loader = ctx.loader("val", train=False)
        limit = self.options.val_batches
        return loader if limit is None else [batch for _, batch in zip(range(limit), loader)]

    def _limit(self, ctx: SearchContext) -> float:
        """The option, else the latency target, else the chosen quantile of random architectures' latency."""
        o = self.options
        if o.latency_limit is not None:
            return float(o.latency_limit)
        if ctx.latency_target is not None:
            return float(ctx.latency_target)
        draws = rng(ctx.seed, "limit-samples")
        latencies = sorted(self.proposer.latency(ctx.space.random_sample(draws)) for _ in range(o.limit_samples))
        limit = latencies[min(int(o.limit_quantile * len(latencies)), len(latencies) - 1)]
        ctx.message(f"latency limit {limit:.4g} {ctx.latency.unit}: the {o.limit_quantile:.0%} quantile of "
                    f"{o.limit_samples} random architectures")
        return limit

    # -- state --------------------------------------------------------------------------------------------------

    def state_dict(self, training: bool = True) -> dict[str, Any]:
        state: dict[str, Any] = {"supernet": self.supernet.state_dict(), "rng": random_state(self.rng),
                                 "proposer": self.proposer.state_dict(), "probe": self.probe,
                                 "evolution": self.evolution.state_dict()}
        if training:  # evolution epochs no longer need the optimiser
            state.update(optimizer=self.optimizer.state_dict(), schedule=self.schedule.state_dict())
        return state

    def restore(self, ctx: SearchContext, state: Mapping[str, Any]) -> None:
        """Set up on ``ctx`` and load a checkpoint's ``state``: ``supernet`` holds the trained weights, ``scorer``
        scores paths on them as the evolution did."""
        self._check(ctx)
        self._setup(ctx)
        self.load_state_dict(state)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.supernet.load_state_dict(state["supernet"])
        restore_random(self.rng, state["rng"])
        self.proposer.load_state_dict(state["proposer"])
        self.probe = state["probe"]
        self.evolution.load_state_dict(state["evolution"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
            self.schedule.load_state_dict(state["schedule"])

    # -- phase 1: single-path supernet training ------------------------------------------------------------------

    def sample_path(self) -> dict[str, Any]:
        if self.options.path_sampling == "under_limit":
            return self.proposer.random(self.rng, remember=False)
        return self.ctx.space.random_sample(self.rng)

    def train_epoch(self, ctx: SearchContext, epoch: int) -> dict[str, float]:
        o = self.options
        self.supernet.train()
        loader = ctx.loader("train", train=True, epoch=epoch)
        cap = ctx.budget.steps_per_epoch
        total = min(cap, len(loader)) if cap is not None else len(loader)
        loss_sum, steps = 0.0, 0
        with ctx.progress(total, f"epoch {epoch + 1}/{ctx.budget.epochs} supernet") as bar:
            for images, labels in loader:
                if steps >= total:
                    break
                images, labels = resize_batch(images.to(ctx.device), labels.to(ctx.device), o.resize)
                mixing = self.supernet.mixing_for(self.sample_path())
                loss = self.criterion(as_output(self.model(images, mixing)).logits, labels)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if o.grad_clip:
                    nn.utils.clip_grad_norm_(self.supernet.parameters(), o.grad_clip)
                self.optimizer.step()
                loss_value = float(loss.detach())
                ensure_finite({"ce": loss_value}, f"epoch {epoch}, step {steps}", DIVERGED_ADVICE)
                ctx.end_step({"ce": loss_value})
                loss_sum += loss_value
                steps += 1
                bar.advance()
                bar.update(ce=loss_sum / steps)
        self.schedule.step()
        return {"ce": loss_sum / max(steps, 1), "lr": self.optimizer.param_groups[0]["lr"]}

    def probe_metrics(self) -> dict[str, float]:
        """The score of one fixed path under the limit: how far the shared weights have come."""
        if self.probe is None:
            self.probe = self.proposer.random(rng(self.ctx.seed, "probe"))
        score, loss = self._score(self.probe)
        return {f"val_{self.metric}": score, "val_loss": loss, "latency": self.proposer.latency(self.probe)}

    # -- phase 2: evolution ---------------------------------------------------------------------------------------

    def _score(self, sample: Mapping[str, Any]) -> tuple[float, float]:
        """(val metric, val cross-entropy) of ``sample``'s path."""
        metrics = self.scorer.score(sample)
        return self._agree(metrics[self.metric], metrics["loss"])

    def _score_many(self, samples: Sequence[Mapping[str, Any]],
                    progress: Callable[[], None] | None = None) -> list[tuple[float, float]]:
        """The scores of a batch of candidates, through the executor: here on this supernet (serial), else each a
        task on a copy of it."""
        here = isinstance(self.executor, SerialExecutor)
        job = ScoringJob(self.scorer if here else self.scorer.detached(), self.metric, self.ctx.device.type)
        scores = self.executor.map(score_path, list(samples), shared=job, progress=progress)
        return [self._agree(score, loss) for score, loss in scores]

    def _agree(self, score: float, loss: float) -> tuple[float, float]:
        values = torch.tensor([score, loss], dtype=torch.float64)
        if self.ctx.dist.enabled:  # the same batches on every rank; the mean keeps the scores bit-identical
            import torch.distributed as dist

            values = values.to(self.ctx.device)
            dist.all_reduce(values)
            values = values.cpu() / self.ctx.dist.world_size
        return float(values[0]), float(values[1])

    def evolve(self, ctx: SearchContext, generation: int) -> dict[str, float]:
        o = self.options
        epoch = self.supernet_epochs + generation
        what = "initial population" if generation == 0 else f"generation {generation + 1}/{o.generations}"
        with ctx.progress(o.population, f"epoch {epoch + 1}/{ctx.budget.epochs} evolution: {what}") as bar:
            if generation == 0:
                self.evolution.seed_population(self.rng, bar.advance)
            else:
                left, at_once = o.population, o.children_at_once or 1
                while left > 0:
                    self.evolution.breed(self.rng, min(at_once, left), bar.advance)
                    left -= at_once
            best = self.evolution.best()
            bar.update(**{f"best_{self.metric}": best.score})
        alive = [self.evolution.history[k].score for k in self.evolution.population]
        return {f"val_{self.metric}": best.score, "val_loss": best.loss, "latency": best.latency,
                f"population_{self.metric}": sum(alive) / len(alive), "scored": len(self.evolution.history)}

    # -- the search ------------------------------------------------------------------------------------------------

    def search(self, ctx: SearchContext) -> SearchResult:
        self._check(ctx)
        self._setup(ctx)
        start = ctx.resume_into(self.load_state_dict)
        if start == 0:
            self.proposer.limit = self._limit(ctx)
        with open_executor(getattr(ctx.config, "executor", None)) as executor:  # a wrong address fails now
            for epoch in range(start, self.supernet_epochs):
                metrics = self.train_epoch(ctx, epoch)
                metrics.update(self.probe_metrics())
                ctx.end_epoch(epoch, metrics, self.state_dict())
            self.executor = executor
            for generation in range(max(start - self.supernet_epochs, 0), self.options.generations):
                metrics = self.evolve(ctx, generation)
                ctx.end_epoch(self.supernet_epochs + generation, metrics, self.state_dict(training=False))
        self.executor = SerialExecutor()
        return self._result(ctx)

    def _result(self, ctx: SearchContext) -> SearchResult:
        scored = list(self.evolution.history.values())
        warnings = []
        if len(scored) > 1 and len({c.score for c in scored}) == 1:
            warnings.append(f"every one of the {len(scored)} architectures scored val {self.metric} "
                            f"{scored[0].score:.4g}: the supernet's predictions do not tell them apart yet, so they "
                            "were ranked by val cross-entropy; train the supernet longer (budget.epochs, "
                            "budget.steps_per_epoch)")
        front = pareto_front(scored)
        best = self.evolution.best()
        ranked = [best] + [c for c in reversed(front) if c.key != best.key]  # best first, then ever faster
        limit, unit = self.proposer.limit, ctx.latency.unit
        architectures = [ctx.architecture(c.sample, **{f"val_{self.metric}": round(c.score, 4)},
                                          val_loss=round(c.loss, 4),
                                          search_latency=round(c.latency, 4), latency_limit=limit,
                                          latency_unit=unit, pareto=True)
                         for c in ranked]
        files = {}
        if ctx.run_dir.writable:
            pairs = [(a.id, c) for a, c in zip(architectures, ranked)]
            pairs.sort(key=lambda p: p[1].latency)
            files["pareto_set"] = write_front(ctx.run_dir.path / "pareto.yaml", pairs, limit=limit, unit=unit,
                                              metric=self.metric)
            files["pareto"] = draw_front(ctx.run_dir.path / "pareto.png", scored, front, best, limit=limit,
                                         unit=unit, metric=self.metric)
        metrics = {f"val_{self.metric}": best.score, "latency_limit": float(limit), "scored": float(len(scored)),
                   "pareto_size": float(len(front))}
        return SearchResult(architectures, metrics, files, warnings)
