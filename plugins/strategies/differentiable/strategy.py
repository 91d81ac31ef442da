"""Differentiable one-shot search (DARTS / SNAS / GDAS style) with GAS's per-cell parameters, communicator and
latency-oriented loss.

The first epochs train the supernet's weights alone (a warm-up; by default every step trains one uniformly
sampled path per choice, so that every candidate gets trained before any is judged). Each later epoch
alternates, batch by batch, an architecture step (Adam on the architecture parameters and the communicator, on
the architecture half of the train split: CE + the latency term) and a weight step (the supernet's weights on the
other half, CE only). E[LAT] is the latency estimator's expectation over the relaxed choices, differentiable in
the mixing probabilities, so the latency term moves the architecture toward the target. The derivation then
picks the most probable architecture that meets the target (see :mod:`gasnas_plugins.strategies.derivation`).

Every epoch records the entropy of the architecture distribution; a search that ends near uniform says so: its
result was decided by noise, not by what the supernet learned. With PC-DARTS' edge normalisation the supernet also
has choices of granularity ``edge`` (per node, weights over its incoming edges): they are always relaxed by a plain
softmax (every edge runs anyway), whatever the relaxation of the others, and are left out of the entropy, of the
edge reliability and of the communication metric, which keep meaning what they mean without them
(``edge_entropy`` reports theirs). With a communicator it also records how much the
communicator changes alpha (``communication``: ||alpha' - alpha|| / ||alpha||), so a module that learned to pass
nothing shows as a value near 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api import ConfigError, LatencyError, SearchContext, SearchResult, ensure_finite
from gasnas.api.model import as_output
from gasnas.api.space import supernet_of
from gasnas.api.strategy import SearchStrategy
from gasnas_plugins.strategies.derivation import Cap, derive_distinct, derive_for_latency
from gasnas_plugins.strategies.differentiable import TARGET_LOSSES, DifferentiableOptions
from gasnas_plugins.strategies.differentiable.losses import Decoupled, Multiplier, latency_term
from gasnas_plugins.strategies.differentiable.reliability import SplitHalf, pools
from gasnas_plugins.strategies.supernet import DIVERGED_ADVICE, criterion, weight_optimizer

__all__ = ["DifferentiableSearch", "UNDECIDED"]

#: mean normalised entropy (1 = uniform) above which a search's distribution counts as undecided
UNDECIDED = 0.98
#: the candidate ``max_skips`` caps (GAS's and NNI DARTS' name for the identity)
SKIP = "skip_connect"
#: relaxations whose supernet only ever runs one candidate per choice
SINGLE_PATH = ("hard_gumbel", "sampled")
#: the granularity of PC-DARTS' edge-normalisation choices (see :class:`~gasnas.api.space.RelaxedChoice`)
EDGE = "edge"


class ArchParameters(nn.Module):
    """One logit vector per relaxed choice (per edge of every cell: no sharing), zero-initialised."""

    def __init__(self, choices) -> None:
        super().__init__()
        self.keys = [c.key for c in choices]
        self.alpha = nn.ParameterList(nn.Parameter(torch.zeros(len(c.candidates))) for c in choices)

    def as_dict(self) -> dict[str, Tensor]:
        return dict(zip(self.keys, self.alpha))


def normalised_entropy(probs: Mapping[str, Tensor]) -> float:
    """Mean over choices of H(p) / log(n): 1 when every choice is uniform, 0 when every one is decided."""
    values = [float(-(p * p.clamp_min(1e-12).log()).sum()) / math.log(len(p)) for p in probs.values() if len(p) > 1]
    return sum(values) / max(len(values), 1)


def gumbel_top_k(logits: Tensor, k: int, tau: float) -> Tensor:
    """GDAS' hard Gumbel sample with ``k`` paths: the top ``k`` of the Gumbel-perturbed logits (``k`` candidates
    drawn without replacement, in proportion to softmax(logits) for the first), each weighted 1 / k in the forward
    pass, so that the edge averages them; the gradient is the Gumbel-softmax's at temperature ``tau``
    (straight-through, as ``F.gumbel_softmax(hard=True)``). ``k`` is clamped to the number of candidates."""
    gumbels = -torch.empty_like(logits).exponential_().log()  # F.gumbel_softmax's noise
    soft = F.softmax((logits + gumbels) / tau, dim=-1)
    top = torch.topk(logits.detach() + gumbels, min(k, logits.shape[-1]), dim=-1).indices
    hard = torch.zeros_like(soft).scatter_(-1, top, 1.0 / top.shape[-1])
    return hard - soft.detach() + soft


def communication(alphas: Mapping[str, Tensor], communicated: Mapping[str, Tensor]) -> float:
    """How much the communicator changes the architecture: ``||alpha' - alpha|| / ||alpha||`` over every choice
    (0 without communication; 0 when alpha is still zero)."""
    change = sum(float((communicated[k] - v).detach().pow(2).sum()) for k, v in alphas.items())
    size = sum(float(v.detach().pow(2).sum()) for v in alphas.values())
    return math.sqrt(change / size) if size > 0 else 0.0


class DifferentiableSearch(SearchStrategy):
    """See the module docstring; options: :class:`DifferentiableOptions`."""

    options: DifferentiableOptions
    #: keys of the supernet's edge-normalisation choices (set up with the supernet; none without the option)
    edge_keys: frozenset[str] = frozenset()

    def __init__(self, options: DifferentiableOptions | None = None) -> None:
        super().__init__(options or DifferentiableOptions())

    def train_shares(self) -> int:
        """Bi-level: weights from one half of the train split, architecture from the other."""
        return 2 if self.options.bilevel else 1

    # -- set-up ---------------------------------------------------------------------------------------------

    def _setup(self, ctx: SearchContext) -> None:
        o = self.options
        device = ctx.device
        self.ctx = ctx
        self.warmup = o.warmup_of(ctx.budget.epochs)
        if self.warmup >= ctx.budget.epochs:
            raise ConfigError(f"strategy.params.warmup_epochs ({self.warmup}) leaves no search epoch in "
                              f"budget.epochs ({ctx.budget.epochs}); lower it or raise budget.epochs")
        if o.beta > 0 and o.latency_loss in TARGET_LOSSES and ctx.latency_target is None:
            raise ConfigError(f"strategy.params.latency_loss '{o.latency_loss}' needs a latency target: set "
                              "latency.target or latency.target_relative (or latency_loss: linear for a push "
                              "toward faster networks without a target)")
        control = o.latency_controller
        if control is not None and (o.latency_loss == "lagrangian" or o.beta <= 0 or
                                    (control.relative and ctx.latency_target is None)):
            raise ConfigError("strategy.params.latency_controller adapts beta of a latency loss other than lagrangian, "
                              "and a relative band needs a latency target: see `gasnas config check`")
        # the latency term: the lagrangian constraint whenever there is a target, the others when beta > 0
        self.latency_active = (ctx.latency_target is not None if o.latency_loss == "lagrangian" else o.beta > 0)
        self.supernet = supernet_of(ctx.space, ctx.num_classes, o.partial_channels, o.edge_normalization).to(device)
        choices = self.supernet.relaxed_choices()
        self.edge_keys = frozenset(c.key for c in choices if c.granularity == EDGE)
        self.arch = ArchParameters(choices).to(device)
        self.split = SplitHalf(pools(c for c in choices if c.granularity != EDGE))
        self.communicator = ctx.communicator(choices)
        if self.communicator is not None:
            self.communicator.to(device)
        self.model = ctx.wrap(self.supernet)
        for module in (self.arch, self.communicator):  # under torchrun: rank 0's starting values on every rank
            if module is not None:
                ctx.dist.broadcast_module(module)
        self.expected = None
        if self.latency_active:
            self.expected = ctx.expected_latency()  # required: a clear error when the estimator cannot give it
        elif ctx.latency is not None:
            try:  # reported, and used by the derivation
                self.expected = ctx.expected_latency()
            except LatencyError:
                self.expected = None
        arch_params = list(self.arch.parameters()) + (list(self.communicator.parameters()) if self.communicator else [])
        self.arch_params = [p for p in arch_params if p.requires_grad]
        self.arch_opt = torch.optim.Adam(self.arch_params, lr=o.arch_lr, betas=o.arch_betas,
                                         weight_decay=o.arch_weight_decay)
        self.weight_opt, self.schedule = weight_optimizer(self.supernet.parameters(), o, ctx.budget.epochs)
        self.criterion = criterion(ctx, o.class_weight_power)
        self.multiplier = Multiplier(o.beta, o.dual_lr)
        with torch.no_grad():
            uniform = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates), device=device) for c in choices}
            self.reference = float(self.expected(uniform)) if self.expected is not None else 1.0
        self.decoupled = Decoupled.of(o, ctx.space, choices) if o.latency_granularity == "decoupled" else None
        self.latency_scale = 1.0  # the controller's factor on the latency weight

    def state_dict(self) -> dict[str, Any]:
        return {"supernet": self.supernet.state_dict(), "arch": self.arch.state_dict(),
                "communicator": self.communicator.state_dict() if self.communicator else {},
                "arch_opt": self.arch_opt.state_dict(), "weight_opt": self.weight_opt.state_dict(),
                "schedule": self.schedule.state_dict(), "multiplier": self.multiplier.state_dict(),
                "split_half": self.split.state_dict(), "latency_scale": self.latency_scale}

    def restore(self, ctx: SearchContext, state: Mapping[str, Any]) -> None:
        """Set up on ``ctx`` and load a checkpoint's ``state``: ``supernet`` holds the trained weights,
        :meth:`probabilities` the architecture distribution."""
        self._setup(ctx)
        self.load_state_dict(state)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.supernet.load_state_dict(state["supernet"])
        self.arch.load_state_dict(state["arch"])
        if self.communicator is not None:
            self.communicator.load_state_dict(state["communicator"])
        self.arch_opt.load_state_dict(state["arch_opt"])
        self.weight_opt.load_state_dict(state["weight_opt"])
        self.schedule.load_state_dict(state["schedule"])
        self.multiplier.load_state_dict(state["multiplier"])
        if "split_half" in state:  # checkpoints from before the record: counted from the resume on
            self.split.load_state_dict(state["split_half"])
        self.latency_scale = float(state.get("latency_scale", 1.0))

    # -- relaxation -------------------------------------------------------------------------------------------

    def tau(self, epoch: int) -> float:
        o = self.options
        span = max(self.ctx.budget.epochs - self.warmup - 1, 1)
        t = min(max(epoch - self.warmup, 0) / span, 1.0)
        return o.tau_start * (o.tau_end / o.tau_start) ** t

    def logits(self) -> dict[str, Tensor]:
        """alpha' = communicator(alpha): what the relaxation reads."""
        alphas = self.arch.as_dict()
        return self.communicator(alphas) if self.communicator is not None else alphas

    def probabilities(self) -> dict[str, Tensor]:
        return {k: F.softmax(v, dim=-1) for k, v in self.logits().items()}

    def mixing(self, epoch: int, logits: dict[str, Tensor] | None = None
               ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """(mixing weights for the forward pass, probabilities for E[LAT] and derivation). Edge-normalisation
        choices are mixed by their probabilities under every relaxation and in the warm-up (PC-DARTS)."""
        logits = self.logits() if logits is None else logits
        probs = {k: F.softmax(v, dim=-1) for k, v in logits.items()}
        relaxed = {k: v for k, v in logits.items() if k not in self.edge_keys}
        mixing = self._relax(epoch, relaxed, {k: probs[k] for k in relaxed})
        mixing.update((k, probs[k]) for k in self.edge_keys if k in probs)
        return mixing, probs

    def _relax(self, epoch: int, logits: Mapping[str, Tensor], probs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The relaxation's mixing weights of ``logits`` (``probs``: their softmax)."""
        if epoch < self.warmup and self.options.warmup_paths == "single":  # one uniform path per choice
            return {k: F.one_hot(torch.randint(len(v), ()), len(v)).to(v) for k, v in logits.items()}
        if self.options.relaxation == "sampled":  # one path drawn from the distribution
            return {k: F.one_hot(torch.multinomial(p.detach(), 1)[0], len(p)).to(p) for k, p in probs.items()}
        if self.options.relaxation == "softmax":
            return dict(probs)
        hard = self.options.relaxation == "hard_gumbel"
        tau = self.tau(epoch)
        if hard and self.options.gumbel_paths > 1:
            return {k: gumbel_top_k(v, self.options.gumbel_paths, tau) for k, v in logits.items()}
        return {k: F.gumbel_softmax(v, tau=tau, hard=hard) for k, v in logits.items()}

    # -- steps ------------------------------------------------------------------------------------------------

    def _batch(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        images, labels = images.to(self.ctx.device, non_blocking=True), labels.to(self.ctx.device, non_blocking=True)
        if self.options.resize < 1:
            images = F.interpolate(images, scale_factor=self.options.resize, mode="bilinear", align_corners=False,
                                   recompute_scale_factor=False)
            labels = F.interpolate(labels[:, None].float(), size=images.shape[-2:], mode="nearest")[:, 0].long()
        return images, labels

    def _ce(self, images: Tensor, labels: Tensor, mixing: Mapping[str, Tensor], model: nn.Module | None = None
            ) -> Tensor:
        return self.criterion(as_output((model or self.model)(images, mixing)).logits, labels)

    def _latency(self, probs: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(E[LAT], beta * f(E[LAT])) -- the multiplier instead of beta for the lagrangian form."""
        zero = torch.zeros((), device=self.ctx.device)
        if self.expected is None:
            return zero, zero
        if not self.latency_active:
            return self.expected(probs), zero
        expected = self.decoupled(self.expected, probs) if self.decoupled is not None else self.expected(probs)
        term = latency_term(self.options.latency_loss, expected, self.ctx.latency_target, self.reference)
        weight = self.multiplier.value if self.options.latency_loss == "lagrangian" else self.options.beta
        return expected, weight * self.latency_scale * term

    def _after_latency_step(self, expected: Tensor) -> None:
        if self.options.latency_loss == "lagrangian" and self.latency_active:
            self.multiplier.update(float(expected.detach()) / self.ctx.latency_target - 1)

    def arch_step(self, images: Tensor, labels: Tensor, epoch: int) -> dict[str, float]:
        if self.options.relaxation == "sampled":
            return self.sampled_arch_step(images, labels, epoch)
        logits = self.logits()
        mixing, probs = self.mixing(epoch, logits)
        # the supernet itself, not its DDP wrapper (which expects a weight backward after each of its forwards):
        # the architecture gradients are all-reduced below
        ce = self._ce(images, labels, mixing, self.supernet)
        expected, term = self._latency(probs)
        loss = ce + term
        self.arch_opt.zero_grad(set_to_none=True)
        self._backward_with_evidence(loss, term, logits, epoch)
        self._all_reduce_arch_grads()
        self.arch_opt.step()
        self._after_latency_step(expected)
        return {"arch_ce": float(ce.detach()), "latency_term": float(term.detach()),
                "expected_latency_ms": float(expected.detach()), "multiplier": self.multiplier.value}

    def sampled_arch_step(self, images: Tensor, labels: Tensor, epoch: int) -> dict[str, float]:
        """The score-function (REINFORCE) step: ``paths`` architectures drawn from the distribution, each run on
        the same batch (forward only); each path's loss minus the mean of the others' weighs the gradient of its
        log-probability, so only differences between paths move the architecture, not how hard the batch is.
        Edge-normalisation choices are not drawn: every path runs with their probabilities, and their gradient is
        the pathwise one of the paths' mean loss (the paths' forward passes then keep their activations)."""
        logits = self.logits()
        logp = {k: F.log_softmax(v, dim=-1) for k, v in logits.items()}
        probs = {k: v.exp() for k, v in logp.items()}
        n = self.options.paths
        drawn = {k: torch.multinomial(p.detach(), n, replacement=True) for k, p in probs.items()
                 if k not in self.edge_keys}
        edges = {k: probs[k] for k in self.edge_keys if k in probs}
        losses = []
        with torch.set_grad_enabled(bool(edges)):
            for i in range(n):
                mixing = {k: F.one_hot(idx[i], len(probs[k])).to(probs[k]) for k, idx in drawn.items()}
                losses.append(self._ce(images, labels, {**mixing, **edges}, self.supernet))
        losses = torch.stack(losses)
        advantage = (losses - (losses.sum() - losses) / (n - 1)).detach()
        log_prob = sum(logp[k][idx] for k, idx in drawn.items())  # per path
        surrogate = (advantage * log_prob).mean()
        if edges:
            surrogate = surrogate + losses.mean()
        expected, term = self._latency(probs)
        self.arch_opt.zero_grad(set_to_none=True)
        self._backward_with_evidence(surrogate + term, term, logits, epoch)
        self._all_reduce_arch_grads()
        self.arch_opt.step()
        self._after_latency_step(expected)
        return {"arch_ce": float(losses.detach().mean()), "latency_term": float(term.detach()),
                "expected_latency_ms": float(expected.detach()), "multiplier": self.multiplier.value}

    def _backward_with_evidence(self, loss: Tensor, term: Tensor, logits: Mapping[str, Tensor], epoch: int) -> None:
        """``loss.backward()`` into the architecture parameters; on the way, what the step says about each
        choice's candidates apart from latency -- minus the gradient of the accuracy part of the loss with respect
        to the logits the derivation reads -- goes to the split-half record of ``epoch``."""
        tracked = [(k, v) for k, v in logits.items() if v.requires_grad]
        latency = dict.fromkeys(k for k, _ in tracked)
        if term.requires_grad:  # the latency term's share, computed apart on its small graph (probs -> E[LAT])
            grads = torch.autograd.grad(term, [v for _, v in tracked], retain_graph=True, allow_unused=True)
            latency = dict(zip(latency, grads))
        total: dict[str, Tensor] = {}
        handles = [v.register_hook(lambda g, k=k: total.__setitem__(k, g.detach())) for k, v in tracked]
        try:
            loss.backward(inputs=self.arch_params)
        finally:
            for handle in handles:
                handle.remove()
        self.split.add(epoch, {k: -(g - latency[k]) if latency[k] is not None else -g for k, g in total.items()})

    def _all_reduce_arch_grads(self) -> None:
        if self.ctx.dist.enabled:  # every rank must take the same architecture step
            import torch.distributed as dist

            for p in self.arch_params:
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= self.ctx.dist.world_size

    def weight_step(self, images: Tensor, labels: Tensor, epoch: int, latency: bool = False) -> dict[str, float]:
        searching = epoch >= self.warmup
        with torch.no_grad() if not latency else torch.enable_grad():
            mixing, probs = self.mixing(epoch)
        if not latency:
            mixing = {k: v.detach() for k, v in mixing.items()}
        ce = self._ce(images, labels, mixing)
        loss = ce
        out = {"ce": float(ce.detach())}
        if latency and searching:  # single-level: one loss for weights and architecture
            expected, term = self._latency(probs)
            loss = ce + term
            out.update(latency_term=float(term.detach()), expected_latency_ms=float(expected.detach()))
            self.arch_opt.zero_grad(set_to_none=True)
        self.weight_opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.options.grad_clip:
            nn.utils.clip_grad_norm_(self.supernet.parameters(), self.options.grad_clip)
        self.weight_opt.step()
        if latency and searching:
            self._all_reduce_arch_grads()  # DDP averaged the weights' gradients, not these
            self.arch_opt.step()
            self._after_latency_step(expected)
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
        searching = epoch >= self.warmup
        self.supernet.train()
        sums: dict[str, float] = {}
        steps = 0
        weight_indices = halves[0] if o.bilevel else halves[0] + halves[1]
        weight_batches = self._batches(ctx, weight_indices, epoch, 0)
        arch_batches = self._batches(ctx, halves[1], epoch, 1) if (o.bilevel and searching) else None
        total = len(weight_indices) // ctx.budget.batch_size  # the loader drops the last partial batch
        total = min(total, ctx.budget.steps_per_epoch or total)
        with ctx.progress(total, f"epoch {epoch + 1}/{ctx.budget.epochs}" + ("" if searching else " warm-up")) as bar:
            for images, labels in weight_batches:
                stats: dict[str, float] = {}
                if arch_batches is not None:
                    batch = next(arch_batches, None)
                    if batch is not None:
                        stats.update(self.arch_step(*batch, epoch))
                stats.update(self.weight_step(images, labels, epoch, latency=searching and not o.bilevel))
                ensure_finite(stats, f"epoch {epoch}, step {steps}", DIVERGED_ADVICE)
                ctx.end_step(stats)
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v
                steps += 1
                bar.advance()
                bar.update(ce=sums["ce"] / steps)
        self.schedule.step()
        metrics = {k: v / max(steps, 1) for k, v in sums.items()}
        metrics["lr"] = self.weight_opt.param_groups[0]["lr"]
        if o.relaxation in ("gumbel", "hard_gumbel"):
            metrics["tau"] = self.tau(epoch)
        return metrics

    def derive(self, probs: Mapping[str, Tensor], top_k: int) -> list[tuple[dict[str, Any], float]]:
        """``top_k`` distinct architectures; with a latency target (and ``derivation`` not argmax) the most
        probable ones that meet it. Under torchrun rank 0 derives, and every rank gets its architectures."""
        derived, self.mu = self.ctx.dist.from_main(self._derive, probs, top_k)
        return derived

    def _derive(self, probs: Mapping[str, Tensor], top_k: int) -> tuple[list[tuple[dict[str, Any], float]], float]:
        ctx, o = self.ctx, self.options
        cap = Cap(SKIP, o.max_skips) if o.max_skips is not None else None
        if ctx.latency_target is None or o.derivation == "argmax" or self.expected is None:
            return derive_distinct(self.supernet, ctx.space, probs, top_k, cap), getattr(self, "mu", 0.0)
        return derive_for_latency(
            self.supernet, ctx.space, probs, top_k, costs=self.expected.kept_costs(), estimate=ctx.estimate_latency,
            target=ctx.latency_target, mode=o.derivation, cap=cap)

    def control(self, derived: float | None) -> float:
        """FasterSeg's controller: the latency weight times ``factor`` when the derived network's latency is above
        the band, divided by it when below; returns the weight now in force (beta times the scale)."""
        control = self.options.latency_controller
        if derived is not None:
            low, high = control.band
            if control.relative:
                low, high = low * self.ctx.latency_target, high * self.ctx.latency_target
            if derived > high:
                self.latency_scale *= control.factor
            elif derived < low:
                self.latency_scale /= control.factor
        return self.options.beta * self.latency_scale

    @torch.no_grad()
    def epoch_metrics(self, ctx: SearchContext) -> dict[str, float]:
        """Val mIoU of the supernet (under its probabilities; under a single-path relaxation, on the derived
        architecture's path, the only kind of network its weights were trained as), entropy, and the derived
        latency."""
        self.supernet.eval()
        probs = self.probabilities()
        out: dict[str, float] = {}
        if self.expected is not None:
            out["expected_latency_ms"] = float(self.expected(probs))
        out["entropy"] = normalised_entropy({k: v for k, v in probs.items() if k not in self.edge_keys})
        if self.edge_keys:
            out["edge_entropy"] = normalised_entropy({k: v for k, v in probs.items() if k in self.edge_keys})
        if self.communicator is not None:
            alphas = {k: v for k, v in self.arch.as_dict().items() if k not in self.edge_keys}
            out["communication"] = communication(alphas, self.communicator(self.arch.as_dict()))
        reliability = self.split.reliability()
        if reliability is not None:
            out["edge_reliability"] = reliability
        (best, _), = self.derive(probs, 1)
        derived = ctx.estimate_latency(best)
        if derived is not None:
            out["derived_latency"] = derived
        mixing = self.supernet.mixing_for(best) if self.options.relaxation in SINGLE_PATH else probs
        out[f"val_{ctx.evaluator.primary_metric}"] = self._score(ctx, mixing)
        return out

    @torch.no_grad()
    def _score(self, ctx: SearchContext, mixing: Mapping[str, Tensor]) -> float:
        """The evaluator's primary metric of the supernet under ``mixing`` on the first ``val_batches`` batches."""
        self.supernet.eval()

        def forward(images: Tensor) -> Tensor:
            x, _ = self._batch(images, torch.zeros(images.shape[0], *images.shape[-2:], dtype=torch.long))
            logits = as_output(self.supernet(x, mixing)).logits
            return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)

        batches = []
        for i, batch in enumerate(ctx.loader("val", train=False)):
            if self.options.val_batches is not None and i >= self.options.val_batches:
                break
            batches.append(batch)
        result = ctx.evaluator.evaluate(self.supernet, batches, dataset=ctx.dataset, device=ctx.device,
                                        forward=forward)
        return result.metrics[ctx.evaluator.primary_metric]

    def search(self, ctx: SearchContext) -> SearchResult:
        self._setup(ctx)
        self.mu = 0.0
        start = ctx.resume_into(self.load_state_dict)
        halves = ctx.split_indices("train", 2)
        metrics: dict[str, float] = {}
        for epoch in range(start, ctx.budget.epochs):
            metrics = self.train_epoch(ctx, epoch, halves)
            metrics.update(self.epoch_metrics(ctx))
            if self.options.latency_controller is not None and epoch >= self.warmup:
                metrics["latency_weight"] = self.control(metrics.get("derived_latency"))
            ctx.end_epoch(epoch, metrics, self.state_dict())
        if not metrics:  # resumed after the last epoch: nothing left to train
            metrics = self.epoch_metrics(ctx)
        with torch.no_grad():
            probs = self.probabilities()
        # a derivation that weighs more than the probabilities measures it now (FasterSeg's head choice): a derived
        # network's accuracy on its own path, its latency by the search's estimator (1 without one: accuracy decides)
        self.supernet.gather_evidence(probs, lambda sample: self._score(ctx, self.supernet.mixing_for(sample)),
                                      lambda sample: ctx.estimate_latency(sample) or 1.0)
        derived = self.derive(probs, self.options.top_k)
        architectures = [ctx.architecture(sample, log_probability=round(score, 4)) for sample, score in derived]
        reported = ("expected_latency_ms", "entropy", "edge_entropy", "edge_reliability", "communication")
        final = {k: v for k, v in metrics.items() if k.startswith("val_") or k in reported}
        final["decided"] = float(final["entropy"] < UNDECIDED)
        if ctx.latency_target is not None and self.options.derivation != "argmax":
            final["derivation_mu"] = self.mu
        warnings = []
        if not final["decided"]:
            warnings.append(
                f"the architecture distribution ended near uniform (normalised entropy {final['entropy']:.3f}; 1 is "
                "uniform): the derived architecture was decided by noise, not by what the supernet learned. Search "
                "longer (budget.epochs), raise strategy.params.arch_lr, or check that the supernet learns (val "
                "mIoU above the all-background score)")
        return SearchResult(architectures, final, warnings=warnings)
