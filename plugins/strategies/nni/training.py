"""What NNI's strategies train with: gasnas's data, loss, optimiser schedule and evaluator, in NNI's shapes.

- :class:`SegmentationModule`: an NNI ``LightningModule`` (cross-entropy with the dataset's ignore index, SGD with
  a cosine schedule as the differentiable strategy) that one-shot strategies wrap;
- :class:`EpochReport`: a Lightning callback that scores the supernet with the gasnas evaluator after each
  epoch and records the epoch through the engine (``metrics.jsonl``, progress, event hooks);
- :func:`train_and_score`: one multi-trial trial -- train a network briefly from scratch, score it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch
from nni.nas.evaluator.pytorch.lightning import LightningModule
from torch import Tensor, nn

from gasnas.api import SearchContext
from gasnas.api.model import as_output
from gasnas_plugins.strategies.nni import NniStrategyOptions

__all__ = ["SegmentationModule", "EpochReport", "train_and_score", "score", "make_optimizer"]


def make_optimizer(params: Iterable[nn.Parameter], options: NniStrategyOptions, epochs: int):
    optimizer = torch.optim.SGD(params, lr=options.weight_lr, momentum=options.momentum,
                                weight_decay=options.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs, eta_min=options.weight_lr_min)
    return optimizer, schedule


class SegmentationModule(LightningModule):
    """Cross-entropy on the network's main logits; SGD + cosine schedule over ``epochs``."""

    def __init__(self, options: NniStrategyOptions, epochs: int, ignore_index: int) -> None:
        super().__init__()
        self.options, self.epochs = options, epochs
        self.criterion = nn.CrossEntropyLoss(ignore_index=ignore_index)

    def forward(self, x: Tensor) -> Tensor:
        return as_output(self.model(x)).logits

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        images, labels = batch
        loss = self.criterion(self(images), labels)
        self.log("train_loss", loss, prog_bar=False, logger=False)
        return loss

    def configure_optimizers(self):
        optimizer, schedule = make_optimizer(self.parameters(), self.options, self.epochs)
        return {"optimizer": optimizer, "lr_scheduler": schedule}


def score(ctx: SearchContext, model: nn.Module, val_batches: int | None) -> float:
    """The gasnas evaluator's primary metric of ``model`` on (the first ``val_batches`` of) the val split."""
    batches = []
    for i, batch in enumerate(ctx.loader("val", train=False)):
        if val_batches is not None and i >= val_batches:
            break
        batches.append(batch)
    result = ctx.evaluator.evaluate(model, batches, dataset=ctx.dataset, device=ctx.device,
                                    forward=lambda x: as_output(model(x)).logits)
    return float(result.metrics[ctx.evaluator.primary_metric])


class EpochReport(pl.Callback):
    """After each epoch of a one-shot search: the supernet's val score, the architecture NNI would export now and
    its estimated latency, recorded with ``ctx.end_epoch``. ``epoch_times`` keeps each epoch's training time."""

    def __init__(self, ctx: SearchContext, options: NniStrategyOptions,
                 export: Callable[[Any], dict[str, Any]]) -> None:
        self.ctx, self.options, self.export = ctx, options, export
        self.epoch_times: list[float] = []
        self.samples: list[dict[str, Any]] = []
        self._progress = self._bar = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._losses: list[float] = []
        total = trainer.num_training_batches
        self._progress = self.ctx.progress(total if isinstance(total, int) else None,
                                           f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} (NNI)")
        self._bar = self._progress.__enter__()
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if isinstance(loss, Tensor):
            self._losses.append(float(loss.detach()))
            self.ctx.end_step({"ce": self._losses[-1]})
        self._bar.advance()
        if self._losses:
            self._bar.update(ce=sum(self._losses) / len(self._losses))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_times.append(time.perf_counter() - self._started)
        self._progress.__exit__(None, None, None)
        device = self.ctx.device
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            self._report(trainer, pl_module)  # reporting draws no random number the search would see

    def _report(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        sample = self.export(pl_module)
        self.samples.append(sample)
        supernet = pl_module.training_module.model
        metrics: dict[str, float] = {"ce": sum(self._losses) / max(len(self._losses), 1),
                                     "epoch_time_s": self.epoch_times[-1]}
        with torch.no_grad():
            metrics[f"val_{self.ctx.evaluator.primary_metric}"] = score(self.ctx, supernet, self.options.val_batches)
        supernet.train()
        latency = self.ctx.estimate_latency(sample)
        if latency is not None:
            metrics["derived_latency"] = latency
        self.ctx.end_epoch(trainer.current_epoch, metrics, {"nni_sample": sample})


def train_and_score(ctx: SearchContext, model: nn.Module, options: NniStrategyOptions, trial: int) -> dict[str, float]:
    """Train ``model`` from scratch for ``options.trial_epochs`` epochs (capped by ``budget.steps_per_epoch``)
    and score it with the gasnas evaluator; the loader order depends on (seed, trial, epoch) only."""
    model.to(ctx.device).train()
    budget = ctx.budget
    optimizer, schedule = make_optimizer(model.parameters(), options, options.trial_epochs)
    criterion = nn.CrossEntropyLoss(ignore_index=ctx.dataset.ignore_index)
    steps_per_epoch = budget.steps_per_epoch or math.inf
    losses = []
    for epoch in range(options.trial_epochs):
        for step, (images, labels) in enumerate(ctx.loader("train", train=True, epoch=epoch, stream=1000 + trial)):
            if step >= steps_per_epoch:
                break
            images, labels = images.to(ctx.device), labels.to(ctx.device)
            loss = criterion(as_output(model(images)).logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        schedule.step()
    with torch.no_grad():
        value = score(ctx, model, options.val_batches)
    return {"ce": sum(losses) / max(len(losses), 1), f"val_{ctx.evaluator.primary_metric}": value}
