"""Random search with a latency filter: the simplest multi-trial strategy, resumable after a kill.

Each epoch samples ``trials_per_epoch`` architectures whose estimated latency is within the limit, builds each
as a stand-alone network (``space.build``), trains it for a few steps and scores it on val batches. The trials
so far and the sampler's state go to ``ctx.end_epoch``, so ``gasnas search --resume`` continues exactly.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from gasnas.api import LatencyError, SearchContext, SearchResult, seeding
from gasnas.api.model import as_output
from gasnas.api.strategy import SearchStrategy
from random_search.plugin import RandomSearchOptions


class RandomSearch(SearchStrategy):
    options: RandomSearchOptions

    def __init__(self, options: RandomSearchOptions | None = None) -> None:
        super().__init__(options or RandomSearchOptions())

    def search(self, ctx: SearchContext) -> SearchResult:
        rng = seeding.rng(ctx.seed, "random-architectures")
        trials: list[dict[str, Any]] = []
        start = 0
        resumed = ctx.resume()  # (last epoch, the state we handed to end_epoch), every RNG restored
        if resumed is not None:
            epoch, state = resumed
            trials = list(state["trials"])
            seeding.restore_random(rng, state["rng"])
            start = epoch + 1
        limit = self.options.latency_limit if self.options.latency_limit is not None else ctx.latency_target
        for epoch in range(start, ctx.budget.epochs):
            with ctx.progress(self.options.trials_per_epoch, f"epoch {epoch + 1}/{ctx.budget.epochs}") as bar:
                for i in range(self.options.trials_per_epoch):
                    sample, latency = self.propose(ctx, rng, limit)
                    score = self.trial(ctx, sample, stream=len(trials))
                    trials.append({"sample": sample, "latency": latency, "score": score})
                    bar.advance()
            best = max(t["score"] for t in trials)
            ctx.end_epoch(epoch, {f"best_val_{ctx.evaluator.primary_metric}": best, "trials": len(trials)},
                          {"trials": trials, "rng": seeding.random_state(rng)})
        ranked = sorted(trials, key=lambda t: -t["score"])[: self.options.top_k]
        metric = f"val_{ctx.evaluator.primary_metric}"
        architectures = [ctx.architecture(t["sample"], **{metric: round(t["score"], 4)}) for t in ranked]
        return SearchResult(architectures, {metric: ranked[0]["score"], "trials": len(trials)})

    def propose(self, ctx: SearchContext, rng: random.Random, limit: float | None) -> tuple[dict, float | None]:
        """A random architecture whose estimated latency is within ``limit`` (any, without a limit)."""
        for _ in range(self.options.max_tries):
            sample = ctx.space.random_sample(rng)
            latency = ctx.estimate_latency(sample)  # None when the config has no latency section
            if limit is None or latency is None or latency <= limit:
                return sample, latency
        raise LatencyError(f"no random architecture under the latency limit {limit} in {self.options.max_tries} "
                           "tries; raise latency.target or strategy.params.max_tries")

    def trial(self, ctx: SearchContext, sample: dict, stream: int) -> float:
        """Train ``sample``'s network from scratch for a few steps; its val score."""
        net = ctx.space.build(sample, ctx.num_classes).to(ctx.device)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.options.lr)
        net.train()
        batches = self.train_batches(ctx, stream)
        for _ in range(self.options.train_steps):
            images, labels = next(batches)
            logits = as_output(net(images.to(ctx.device))).logits
            loss = F.cross_entropy(logits, labels.to(ctx.device), ignore_index=ctx.dataset.ignore_index)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        val = [batch for _, batch in zip(range(self.options.val_batches), ctx.loader("val", train=False))]
        result = ctx.evaluator.evaluate(net, val, dataset=ctx.dataset, device=ctx.device)
        return float(result.metrics[ctx.evaluator.primary_metric])

    @staticmethod
    def train_batches(ctx: SearchContext, stream: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Train batches, pass after pass, in an order fixed by (seed, pass, stream): a resume replays them."""
        for epoch in itertools.count():
            yield from ctx.loader("train", train=True, epoch=epoch, stream=stream)
