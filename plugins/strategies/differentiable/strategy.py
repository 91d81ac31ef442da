"""Differentiable one-shot search (DARTS / SNAS style) with GAS's per-cell parameters, communicator and
latency-oriented loss.

Each epoch after warm-up alternates, batch by batch, an architecture step (Adam on the architecture parameters
and the communicator, on the architecture half of the train split: CE + beta * f(E[LAT])) and a weight step (the
supernet's weights on the other half, CE only). E[LAT] is the latency estimator's expectation over the relaxed
choices, differentiable in the mixing probabilities, so the latency term moves the architecture.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api.model import as_output
from gasnas.api.strategy import SearchStrategy
from gasnas.engine import SearchContext
from gasnas.errors import LatencyError
from gasnas.run import SearchResult
from gasnas_plugins.strategies.differentiable import DifferentiableOptions
from gasnas_plugins.strategies.differentiable.losses import latency_term
from gasnas_plugins.strategies.supernet import weight_optimizer

__all__ = ["DifferentiableSearch"]


class ArchParameters(nn.Module):
    """One logit vector per relaxed choice (per edge of every cell: no sharing), zero-initialised."""

    def __init__(self, choices) -> None:
        super().__init__()
        self.keys = [c.key for c in choices]
        self.alpha = nn.ParameterList(nn.Parameter(torch.zeros(len(c.candidates))) for c in choices)

    def as_dict(self) -> dict[str, Tensor]:
        return dict(zip(self.keys, self.alpha))


class DifferentiableSearch(SearchStrategy):
    """See the module docstring; options: :class:`DifferentiableOptions`."""

    options: DifferentiableOptions

    def __init__(self, options: DifferentiableOptions | None = None) -> None:
        super().__init__(options or DifferentiableOptions())

    # -- set-up ---------------------------------------------------------------------------------------------

    def _setup(self, ctx: SearchContext) -> None:
        o = self.options
        device = ctx.device
        self.ctx = ctx
        self.supernet = ctx.space.build_supernet(ctx.num_classes).to(device)
        choices = self.supernet.relaxed_choices()
        self.arch = ArchParameters(choices).to(device)
        self.communicator = ctx.communicator(choices)
        if self.communicator is not None:
            self.communicator.to(device)
        self.model = ctx.wrap(self.supernet)
        self.expected = None
        if o.beta > 0:
            self.expected = ctx.expected_latency()  # required: a clear error when the estimator cannot give it
        elif ctx.latency is not None:
            try:  # only reported when beta is 0
                self.expected = ctx.expected_latency()
            except LatencyError:
                self.expected = None
        arch_params = list(self.arch.parameters()) + (list(self.communicator.parameters()) if self.communicator else [])
        self.arch_params = [p for p in arch_params if p.requires_grad]
        self.arch_opt = torch.optim.Adam(self.arch_params, lr=o.arch_lr, betas=o.arch_betas,
                                         weight_decay=o.arch_weight_decay)
        self.weight_opt, self.schedule = weight_optimizer(self.supernet.parameters(), o, ctx.budget.epochs)
        self.criterion = nn.CrossEntropyLoss(ignore_index=ctx.dataset.ignore_index)
        with torch.no_grad():
            uniform = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates), device=device) for c in choices}
            self.reference_ms = float(self.expected(uniform)) if self.expected is not None else 1.0

    def state_dict(self) -> dict[str, Any]:
        return {"supernet": self.supernet.state_dict(), "arch": self.arch.state_dict(),
                "communicator": self.communicator.state_dict() if self.communicator else {},
                "arch_opt": self.arch_opt.state_dict(), "weight_opt": self.weight_opt.state_dict(),
                "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.supernet.load_state_dict(state["supernet"])
        self.arch.load_state_dict(state["arch"])
        if self.communicator is not None:
            self.communicator.load_state_dict(state["communicator"])
        self.arch_opt.load_state_dict(state["arch_opt"])
        self.weight_opt.load_state_dict(state["weight_opt"])
        self.schedule.load_state_dict(state["schedule"])

    # -- relaxation -------------------------------------------------------------------------------------------

    def tau(self, epoch: int) -> float:
        o = self.options
        span = max(self.ctx.budget.epochs - o.warmup_epochs - 1, 1)
        t = min(max(epoch - o.warmup_epochs, 0) / span, 1.0)
        return o.tau_start * (o.tau_end / o.tau_start) ** t

    def logits(self) -> dict[str, Tensor]:
        """alpha' = communicator(alpha): what the relaxation reads."""
        alphas = self.arch.as_dict()
        return self.communicator(alphas) if self.communicator is not None else alphas

    def probabilities(self) -> dict[str, Tensor]:
        return {k: F.softmax(v, dim=-1) for k, v in self.logits().items()}

    def mixing(self, epoch: int) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """(mixing weights for the forward pass, probabilities for E[LAT] and derivation)."""
        logits = self.logits()
        probs = {k: F.softmax(v, dim=-1) for k, v in logits.items()}
        if self.options.relaxation == "softmax":
            return probs, probs
        tau = self.tau(epoch)
        return {k: F.gumbel_softmax(v, tau=tau, hard=False) for k, v in logits.items()}, probs

    # -- steps ------------------------------------------------------------------------------------------------

    def _batch(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        images, labels = images.to(self.ctx.device, non_blocking=True), labels.to(self.ctx.device, non_blocking=True)
        if self.options.resize < 1:
            images = F.interpolate(images, scale_factor=self.options.resize, mode="bilinear", align_corners=False,
                                   recompute_scale_factor=False)
            labels = F.interpolate(labels[:, None].float(), size=images.shape[-2:], mode="nearest")[:, 0].long()
        return images, labels

    def _ce(self, images: Tensor, labels: Tensor, mixing: Mapping[str, Tensor]) -> Tensor:
        return self.criterion(as_output(self.model(images, mixing)).logits, labels)

    def _latency(self, probs: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        if self.expected is None:
            zero = torch.zeros((), device=self.ctx.device)
            return zero, zero
        expected = self.expected(probs)
        term = latency_term(self.options.latency_loss, expected, self.ctx.latency_target_ms, self.reference_ms)
        return expected, term

    def arch_step(self, images: Tensor, labels: Tensor, epoch: int) -> dict[str, float]:
        mixing, probs = self.mixing(epoch)
        ce = self._ce(images, labels, mixing)
        expected, term = self._latency(probs)
        loss = ce + self.options.beta * term
        self.arch_opt.zero_grad(set_to_none=True)
        loss.backward(inputs=self.arch_params)
        if self.ctx.dist.enabled:  # every rank must take the same architecture step
            import torch.distributed as dist

            for p in self.arch_params:
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= self.ctx.dist.world_size
        self.arch_opt.step()
        return {"arch_ce": float(ce.detach()), "latency_term": float(term.detach()),
                "expected_latency_ms": float(expected.detach())}

    def weight_step(self, images: Tensor, labels: Tensor, epoch: int, latency: bool = False) -> dict[str, float]:
        with torch.no_grad() if not latency else torch.enable_grad():
            mixing, probs = self.mixing(epoch)
        if not latency:
            mixing = {k: v.detach() for k, v in mixing.items()}
        ce = self._ce(images, labels, mixing)
        loss = ce
        out = {"ce": float(ce.detach())}
        if latency:  # single-level: one loss for weights and architecture
            expected, term = self._latency(probs)
            loss = ce + self.options.beta * term
            out.update(latency_term=float(term.detach()), expected_latency_ms=float(expected.detach()))
            self.arch_opt.zero_grad(set_to_none=True)
        self.weight_opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.options.grad_clip:
            nn.utils.clip_grad_norm_(self.supernet.parameters(), self.options.grad_clip)
        self.weight_opt.step()
        if latency:
            self.arch_opt.step()
        return out

    # -- the search --------------------------------------------------------------------------------------------

    def _batches(self, ctx: SearchContext, indices, epoch: int, stream: int) -> Iterator[tuple[Tensor, Tensor]]:
        loader = ctx.loader("train", train=True, indices=indices, epoch=epoch, stream=stream)
        for step, batch in enumerate(loader):
            if ctx.budget.steps_per_epoch is not None and step >= ctx.budget.steps_per_epoch:
                return
            yield self._batch(*batch)

    def train_epoch(self, ctx: SearchContext, epoch: int, halves) -> dict[str, float]:
        o = self.options
        searching = epoch >= o.warmup_epochs
        self.supernet.train()
        sums: dict[str, float] = {}
        steps = 0
        weight_batches = self._batches(ctx, halves[0] if o.bilevel else halves[0] + halves[1], epoch, 0)
        arch_batches = self._batches(ctx, halves[1], epoch, 1) if (o.bilevel and searching) else None
        total = ctx.budget.steps_per_epoch or math.ceil(len(halves[0]) / ctx.budget.batch_size)
        with ctx.progress(total, f"epoch {epoch + 1}/{ctx.budget.epochs}" + ("" if searching else " warm-up")) as bar:
            for images, labels in weight_batches:
                stats: dict[str, float] = {}
                if arch_batches is not None:
                    batch = next(arch_batches, None)
                    if batch is not None:
                        stats.update(self.arch_step(*batch, epoch))
                stats.update(self.weight_step(images, labels, epoch, latency=searching and not o.bilevel))
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v
                steps += 1
                bar.advance()
                bar.update(ce=sums["ce"] / steps)
        self.schedule.step()
        metrics = {k: v / max(steps, 1) for k, v in sums.items()}
        metrics["lr"] = self.weight_opt.param_groups[0]["lr"]
        if o.relaxation == "gumbel":
            metrics["tau"] = self.tau(epoch)
        return metrics

    @torch.no_grad()
    def epoch_metrics(self, ctx: SearchContext) -> dict[str, float]:
        """Val mIoU of the supernet under its current probabilities, entropy, and the derived latency."""
        self.supernet.eval()
        probs = self.probabilities()
        out: dict[str, float] = {}
        if self.expected is not None:
            out["expected_latency_ms"] = float(self.expected(probs))
        entropy = [float(-(p * p.clamp_min(1e-12).log()).sum()) for p in probs.values()]
        out["entropy"] = sum(entropy) / len(entropy)
        (best, _), = self.supernet.derive(probs, 1)
        derived = ctx.estimate_latency(best)
        if derived is not None:
            out["derived_latency"] = derived

        def forward(images: Tensor) -> Tensor:
            x, _ = self._batch(images, torch.zeros(images.shape[0], *images.shape[-2:], dtype=torch.long))
            logits = as_output(self.supernet(x, probs)).logits
            return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)

        batches = []
        for i, batch in enumerate(ctx.loader("val", train=False)):
            if self.options.val_batches is not None and i >= self.options.val_batches:
                break
            batches.append(batch)
        result = ctx.evaluator.evaluate(self.supernet, batches, dataset=ctx.dataset, device=ctx.device,
                                        forward=forward)
        out[f"val_{ctx.evaluator.primary_metric}"] = result.metrics[ctx.evaluator.primary_metric]
        return out

    def search(self, ctx: SearchContext) -> SearchResult:
        self._setup(ctx)
        start = ctx.resume_into(self.load_state_dict)
        halves = ctx.split_indices("train", 2)
        metrics: dict[str, float] = {}
        for epoch in range(start, ctx.budget.epochs):
            metrics = self.train_epoch(ctx, epoch, halves)
            metrics.update(self.epoch_metrics(ctx))
            ctx.end_epoch(epoch, metrics, self.state_dict())
        if not metrics:  # resumed after the last epoch: nothing left to train
            metrics = self.epoch_metrics(ctx)
        with torch.no_grad():
            probs = self.probabilities()
        derived = self.supernet.derive(probs, self.options.top_k)
        architectures = [ctx.architecture(sample, log_probability=round(score, 4)) for sample, score in derived]
        final = {k: v for k, v in metrics.items() if k.startswith("val_") or k in ("expected_latency_ms", "entropy")}
        return SearchResult(architectures, final)
