"""Teacher-student co-search (FasterSeg): two architectures searched over one supernet, in one search.

The student is the differentiable strategy's search as configured: every relaxed choice, the latency term, the
latency-aware derivation. The teacher has architecture parameters of its own for every choice but the widths, which
it holds at their widest candidate (the space declares its width choices: :attr:`RelaxedChoice.granularity` is
``width``), and no latency term: the most accurate network the supernet holds, to be trained and then distilled
into the student (``gasnas train --teacher``).

Each architecture step updates both architectures on the same batch of the architecture half, each by its own
loss (the teacher's cross-entropy alone); each weight step trains the supernet's weights on the student's and the
teacher's cross-entropy (weighted by ``teacher_weight``). The teacher runs through the same machinery as the
student -- relaxation, warm-up, evidence, derivation -- with its own parameters swapped in (:meth:`CoSearch._as`).
After the search the student's architectures are the run's (``architecture.yaml``, ``architectures/``); the
teacher's, derived by the argmax under the same skip cap, is ``teacher/architecture.yaml`` with its pictures in
``teacher/cells``. Both architectures are logged per epoch: ``teacher_val_<metric>``, ``teacher_derived_latency``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api import ConfigError, IncompatibleComponentsError, SearchContext, SearchResult
from gasnas.api.space import RelaxedChoice
from gasnas_plugins.strategies.derivation import Cap, derive_distinct
from gasnas_plugins.strategies.differentiable.cosearch_options import CoSearchOptions
from gasnas_plugins.strategies.differentiable.reliability import SplitHalf, pools
from gasnas_plugins.strategies.differentiable.strategy import (SKIP, ArchParameters, DifferentiableSearch,
                                                                normalised_entropy)

__all__ = ["CoSearch", "widest"]

#: a logit no Gumbel noise or temperature lifts to the top: the teacher's held candidates win every draw
HELD_OUT = -1e4
#: the attributes that make up one architecture's search state (swapped by :meth:`CoSearch._as`)
ROLE = ("arch", "communicator", "arch_opt", "arch_params", "split", "latency_active")


def widest(choice: RelaxedChoice) -> int:
    """The index of a width choice's widest candidate: the largest number, else the candidate the space holds it
    at (``held``)."""
    try:
        values = [float(c) for c in choice.candidates]
    except ValueError:
        if choice.held is None:
            raise IncompatibleComponentsError(
                f"width choice '{choice.key}' has candidates that are not numbers ({', '.join(choice.candidates)}) "
                "and no held candidate: the teacher cannot tell which is the widest") from None
        return choice.held
    return values.index(max(values))


class FullWidth(nn.Module):
    """The teacher's view of the choices: its own logits, and every width choice fixed at its widest candidate."""

    def __init__(self, choices: Sequence[RelaxedChoice], device: torch.device) -> None:
        super().__init__()
        self.order = [c.key for c in choices]
        self.fixed: dict[str, Tensor] = {}
        self.onehot: dict[str, Tensor] = {}
        for c in choices:
            if c.granularity == "width":
                i = widest(c)
                self.fixed[c.key] = torch.full((len(c.candidates),), HELD_OUT, device=device)
                self.fixed[c.key][i] = 0.0
                self.onehot[c.key] = F.one_hot(torch.tensor(i), len(c.candidates)).float().to(device)

    def forward(self, alphas: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {k: alphas[k] if k in alphas else self.fixed[k] for k in self.order}


@dataclass
class Role:
    """One architecture's search state: its parameters and their optimiser, the view the relaxation reads, its
    evidence record, whether a latency term applies."""

    arch: ArchParameters
    communicator: nn.Module | None
    arch_opt: torch.optim.Optimizer
    arch_params: list[nn.Parameter]
    split: SplitHalf
    latency_active: bool


class CoSearch(DifferentiableSearch):
    """See the module docstring; options: :class:`CoSearchOptions`."""

    options: CoSearchOptions

    def __init__(self, options: CoSearchOptions | None = None) -> None:
        super().__init__(options or CoSearchOptions())
        self.playing_teacher = False
        self.teacher_metrics: dict[str, float] = {}

    # -- set-up ---------------------------------------------------------------------------------------------

    def _setup(self, ctx: SearchContext) -> None:
        o = self.options
        if not o.bilevel:
            raise ConfigError("strategy.params.bilevel: co-search trains both architectures on the architecture "
                              "half of the train split and the weights on the other: set bilevel: true")
        super()._setup(ctx)
        choices = self.supernet.relaxed_choices()
        own = [c for c in choices if c.granularity != "width"]
        if len(own) == len(choices):
            raise IncompatibleComponentsError(
                f"strategy 'cosearch' needs a space with width choices (relaxed choices of granularity 'width'), "
                f"which the teacher holds at full width while the student searches them; space "
                f"'{ctx.config.space.name}' has none. Search it with the differentiable strategy, or use a space "
                "with a width choice (e.g. fasterseg)")
        arch = ArchParameters(own).to(ctx.device)
        params = [p for p in arch.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=o.teacher_arch_lr or o.arch_lr, betas=o.arch_betas,
                               weight_decay=o.arch_weight_decay)
        self.teacher = Role(arch, FullWidth(choices, ctx.device), opt, params, SplitHalf(pools(own)), False)

    @contextlib.contextmanager
    def _as(self, role: Role) -> Iterator[None]:
        """The differentiable strategy's steps, relaxation and derivation, run for ``role``'s architecture."""
        saved = {name: getattr(self, name) for name in ROLE}
        for name in ROLE:
            setattr(self, name, getattr(role, name))
        self.playing_teacher = True
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(self, name, value)
            self.playing_teacher = False

    def state_dict(self) -> dict[str, Any]:
        t = self.teacher
        return {**super().state_dict(), "teacher": {"arch": t.arch.state_dict(), "arch_opt": t.arch_opt.state_dict(),
                                                    "split_half": t.split.state_dict()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        t = self.teacher
        t.arch.load_state_dict(state["teacher"]["arch"])
        t.arch_opt.load_state_dict(state["teacher"]["arch_opt"])
        t.split.load_state_dict(state["teacher"]["split_half"])

    # -- the teacher's relaxation and derivation --------------------------------------------------------------

    def mixing(self, epoch: int, logits: dict[str, Tensor] | None = None
               ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        mixing, probs = super().mixing(epoch, logits)
        if self.playing_teacher:  # the warm-up's uniform paths included: the teacher is always at full width
            held = self.teacher.communicator.onehot
            mixing = {k: held.get(k, v) for k, v in mixing.items()}
            probs = {k: held.get(k, v) for k, v in probs.items()}
        return mixing, probs

    def _derive(self, probs: Mapping[str, Tensor], top_k: int) -> tuple[list[tuple[dict[str, Any], float]], float]:
        """The student's as the differentiable strategy derives it; the teacher's by the argmax (no latency
        target), under the same skip cap (the student's latency-aware multiplier ``mu`` kept as it is)."""
        if not self.playing_teacher:
            return super()._derive(probs, top_k)
        cap = Cap(SKIP, self.options.max_skips) if self.options.max_skips is not None else None
        return derive_distinct(self.supernet, self.ctx.space, probs, top_k, cap), getattr(self, "mu", 0.0)

    # -- steps ------------------------------------------------------------------------------------------------

    def arch_step(self, images: Tensor, labels: Tensor, epoch: int) -> dict[str, float]:
        stats = super().arch_step(images, labels, epoch)
        with self._as(self.teacher):
            teacher = super().arch_step(images, labels, epoch)
        stats["teacher_arch_ce"] = teacher["arch_ce"]
        return stats

    def weight_step(self, images: Tensor, labels: Tensor, epoch: int, latency: bool = False) -> dict[str, float]:
        """One step of the supernet's weights on CE(student) + teacher_weight * CE(teacher), each under its own
        mixing (two forward and backward passes, the gradients synchronised once under torchrun)."""
        with torch.no_grad():
            student, _ = self.mixing(epoch)
            with self._as(self.teacher):
                teacher, _ = self.mixing(epoch)
        self.weight_opt.zero_grad(set_to_none=True)
        no_sync = getattr(self.model, "no_sync", contextlib.nullcontext)
        with no_sync():
            ce_teacher = self._ce(images, labels, teacher)
            (self.options.teacher_weight * ce_teacher).backward()
        ce = self._ce(images, labels, student)
        ce.backward()
        if self.options.grad_clip:
            nn.utils.clip_grad_norm_(self.supernet.parameters(), self.options.grad_clip)
        self.weight_opt.step()
        return {"ce": float(ce.detach()), "teacher_ce": float(ce_teacher.detach())}

    @torch.no_grad()
    def epoch_metrics(self, ctx: SearchContext) -> dict[str, float]:
        """The student's metrics, and the teacher's under ``teacher_``."""
        out = super().epoch_metrics(ctx)
        with self._as(self.teacher):
            teacher = super().epoch_metrics(ctx)
            own = {k: v for k, v in self.probabilities().items() if k not in self.teacher.communicator.fixed}
        teacher["entropy"] = normalised_entropy(own)  # the held widths are no decision of the teacher's
        self.teacher_metrics = {f"teacher_{k}": v for k, v in teacher.items()}
        return {**out, **self.teacher_metrics}

    # -- the search --------------------------------------------------------------------------------------------

    def search(self, ctx: SearchContext) -> SearchResult:
        result = super().search(ctx)  # the teacher's last metrics come with the student's (epoch_metrics)
        result.architectures = [a.with_metadata(role="student") for a in result.architectures]
        with torch.no_grad(), self._as(self.teacher):
            (sample, score), = self.derive(self.probabilities(), 1)
        teacher = ctx.architecture(sample, role="teacher", log_probability=round(score, 4), rank=0, seed=ctx.seed,
                                   run=str(ctx.run_dir.path), input_shape=list(ctx.input_shape))
        estimate = ctx.estimate_latency(sample)
        if estimate is not None:
            teacher = teacher.with_metadata(estimated_latency=round(estimate, 4),
                                            estimated_latency_unit=ctx.latency.unit)
        result.metrics.update({k: v for k, v in self.teacher_metrics.items()
                               if k.startswith("teacher_val_") or k == "teacher_derived_latency"})
        if ctx.dist.is_main:
            folder = ctx.run_dir.path / "teacher"
            result.files["teacher_architecture"] = teacher.save(folder / "architecture.yaml")
            for picture in ctx.space.render(sample, folder / "cells"):
                result.files[f"teacher_{picture.stem}"] = picture
            ctx.message(f"teacher {teacher.id} ({ctx.space.describe(sample)}): train it, then distil it into the "
                        f"student: gasnas train {folder / 'architecture.yaml'}; gasnas train "
                        f"{ctx.run_dir.path / 'architecture.yaml'} --teacher TEACHER_RUN")
        return result
