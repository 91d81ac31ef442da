"""The train loop: a fixed network from scratch, validated each epoch, checkpointed atomically, resumable.

Each epoch appends one record to ``metrics.jsonl`` (loss, learning rate, images/s, ``val_<metric>``), writes
``checkpoint.pt`` (everything needed to continue) and, when the validation score improves, ``best.pt``. The
data order depends only on (seed, epoch) and every RNG is restored on resume, so on a CPU a resumed run ends
with the weights of an uninterrupted one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from gasnas.api import (
    CheckpointError, DivergedError, LogReporter, PluginManager, ProgressTask, Reporter,
    RunDirectory, deterministic_loader, resolve_device, rng_state, seed_everything, set_rng_state,
)
from gasnas.api.dataset import class_weights
from gasnas.api.model import segmentation_loss
from gasnas_plugins.training.checkpoint import network_payload
from gasnas_plugins.training.config import TrainConfig
from gasnas_plugins.training.optim import build_optimizer, poly_schedule

__all__ = ["Trainer", "TrainResult", "make_loader", "tracked"]

log = logging.getLogger(__name__)

BEST_FILE = "best.pt"


def make_loader(data: Dataset, *, batch_size: int, train: bool, seed: int, epoch: int = 0, workers: int = 0,
                pin_memory: bool = False) -> DataLoader:
    """A loader whose order (and, with workers, augmentation) depends only on ``(seed, epoch)``."""
    return deterministic_loader(data, batch_size=batch_size, seed=seed, epoch=epoch, shuffle=train,
                                drop_last=train and len(data) >= batch_size, workers=workers, pin_memory=pin_memory)


def tracked(batches: Iterable, task: ProgressTask) -> Iterator:
    """``batches``, advancing ``task`` after each."""
    for batch in batches:
        yield batch
        task.advance()


@dataclass
class TrainResult:
    """What a training run produced: the best validation score and where everything was written."""

    run_dir: Path
    metric: str
    best: float
    best_epoch: int
    last: dict[str, float]
    files: dict[str, Path] = field(default_factory=dict)
    elapsed_s: float = 0.0


class Trainer:
    """Trains ``config.target`` on ``config.dataset`` into ``run_dir``; ``resume=True`` continues from its
    ``checkpoint.pt``."""

    def __init__(self, config: TrainConfig, run_dir: RunDirectory, *, pm: PluginManager,
                 reporter: Reporter | None = None, device: str | None = None, resume: bool = False) -> None:
        self.config = config
        self.options = config.train
        self.run_dir = run_dir
        self.pm = pm
        self.reporter = reporter or LogReporter()
        self.device = resolve_device(device or config.device)
        self.resume = resume

    # -- set-up ---------------------------------------------------------------------------------------------------

    def _build(self) -> None:
        cfg = self.config
        registry = self.pm.registry
        self.dataset = registry("datasets").get(cfg.dataset.name).build(cfg.dataset.params)
        self.evaluator = registry("evaluators").get(cfg.evaluator.name).build(cfg.evaluator.params)
        self.metric = f"{self.options.eval_split}_{self.evaluator.primary_metric}"
        self.model = cfg.target.build(self.dataset.num_classes, self.pm).to(self.device)
        self.train_data = self.dataset.split("train", train=True)
        self.eval_data = self.dataset.split(self.options.eval_split, train=False)
        batches = len(self.train_data) // self.options.batch_size or 1
        self.steps_per_epoch = min(batches, self.options.steps_per_epoch or batches)
        o = self.options
        self.optimizer = build_optimizer(self.model, o.optimizer, lr=o.lr, momentum=o.momentum,
                                         weight_decay=o.weight_decay)
        self.schedule = poly_schedule(self.optimizer, o.epochs * self.steps_per_epoch, power=o.poly_power,
                                      warmup_steps=o.warmup_steps)
        self.amp = o.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        weights = class_weights(self.dataset.class_counts("train"), o.class_weight_power)
        self.criterion = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(self.device),
                                             ignore_index=self.dataset.ignore_index)

    def _restore(self) -> tuple[int, float | None, int]:
        """(first epoch to run, best score so far, its epoch) -- from ``checkpoint.pt`` when resuming."""
        if not self.resume:
            return 0, None, -1
        payload = self.run_dir.load_checkpoint()
        if payload is None:  # nothing to resume: the epochs are redone, without duplicate records
            self.run_dir.truncate_metrics(-1)
            self.reporter.message(f"{self.run_dir.path}: no checkpoint to resume from; the training restarts at "
                                  "epoch 1")
            return 0, None, -1
        if not self.config.accepts(payload.get("config_digest")):
            raise CheckpointError(f"{self.run_dir.checkpoint_file}: written for another config than "
                                  f"{self.run_dir.config_file}; it cannot be resumed with this one")
        state = payload["trainer"]
        self.model.load_state_dict(payload["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        epoch = int(payload["epoch"])
        self.run_dir.truncate_metrics(epoch)
        best = state.get("best")
        return epoch + 1, (None if best is None else float(best)), int(state.get("best_epoch", -1))

    # -- the loop -------------------------------------------------------------------------------------------------

    def fit(self) -> TrainResult:
        started = time.perf_counter()
        if self.config.torch_threads is not None:
            torch.set_num_threads(self.config.torch_threads)
        seed_everything(self.config.seed)
        self._build()
        start, best, best_epoch = self._restore()
        if start:
            self.reporter.message(f"resuming after epoch {start} of {self.options.epochs}")
        last: dict[str, float] = {}
        for epoch in range(start, self.options.epochs):
            record = self._train_epoch(epoch)
            if (epoch + 1) % self.options.eval_every == 0 or epoch + 1 == self.options.epochs:
                record.update(self._evaluate(epoch))
            record["elapsed_s"] = round(time.perf_counter() - started, 3)
            improved = self.metric in record and (best is None or record[self.metric] > best)
            if improved:
                best, best_epoch = record[self.metric], epoch
            self.run_dir.append_metrics({"epoch": epoch, **record})
            self._save(epoch, record, best, best_epoch, improved)
            self.reporter.message(_epoch_line(epoch, self.options.epochs, record, self.metric))
            last = record
        return TrainResult(self.run_dir.path, self.metric, float("nan") if best is None else best, best_epoch,
                           last, {"best": self.run_dir.path / BEST_FILE, "checkpoint": self.run_dir.checkpoint_file,
                                  "metrics": self.run_dir.metrics_file},
                           time.perf_counter() - started)

    def _stop_if_diverged(self, first_bad: torch.Tensor, epoch: int) -> None:
        """Stop at a non-finite loss, naming the epoch and step; the last epoch's checkpoint is kept."""
        step = int(first_bad)
        if step >= 0:
            raise DivergedError(f"epoch {epoch + 1}, step {step}: the training loss is not finite; the run stopped "
                                f"and its last good checkpoint is kept; lower train.lr (now {self.options.lr}), set "
                                "train.grad_clip or switch off train.amp, then resume with gasnas train --resume "
                                "RUN_DIR")

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        o = self.options
        loader = make_loader(self.train_data, batch_size=o.batch_size, train=True, seed=self.config.seed,
                             epoch=epoch, workers=o.workers, pin_memory=o.pin_memory)
        self.model.train()
        total = torch.zeros((), device=self.device)
        first_bad = torch.full((), -1, device=self.device)  # the first step whose loss was not finite (no sync)
        images_seen = 0
        tic = time.perf_counter()
        with self.reporter.progress(self.steps_per_epoch, f"epoch {epoch + 1}/{o.epochs}") as task:
            for step, (images, labels) in enumerate(loader):
                if step == self.steps_per_epoch:
                    break
                loss = self._step(images, labels).detach()
                first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
                total += loss
                images_seen += images.shape[0]
                task.advance()
                if step % 10 == 0:  # the progress bar syncs here anyway
                    self._stop_if_diverged(first_bad, epoch)
                    task.update(loss=float(loss), lr=self.optimizer.param_groups[0]["lr"])
        self._stop_if_diverged(first_bad, epoch)
        steps = min(self.steps_per_epoch, len(loader)) or 1
        mean_loss = float(total) / steps
        return {"loss": mean_loss, "lr": float(self.optimizer.param_groups[0]["lr"]),
                "images_per_s": images_seen / max(time.perf_counter() - tic, 1e-9)}

    def _step(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            out = self.model(images)
            loss, _ = segmentation_loss(self.model, out, labels, self.criterion, self.options.aux_weight)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.options.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.options.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        return loss

    def _evaluate(self, epoch: int) -> dict[str, float]:
        o = self.options
        loader = make_loader(self.eval_data, batch_size=o.eval_batch_size or o.batch_size, train=False,
                             seed=self.config.seed, workers=o.workers, pin_memory=o.pin_memory)
        with self.reporter.progress(len(loader), f"validate ({o.eval_split})") as task:
            result = self.evaluator.evaluate(self.model, tracked(loader, task), dataset=self.dataset,
                                             device=self.device)
        return {f"{o.eval_split}_{k}": float(v) for k, v in result.metrics.items()}

    def _save(self, epoch: int, record: dict[str, float], best: float | None, best_epoch: int,
              improved: bool) -> None:
        payload = network_payload(spec=self.config.target, dataset=self.config.dataset,
                                  evaluator=self.config.evaluator, data=self.dataset, model=self.model, epoch=epoch,
                                  metrics=record, config_digest=self.config.digest)
        if improved:
            self.run_dir.save_checkpoint(payload, self.run_dir.path / BEST_FILE)
        trainer: dict[str, Any] = {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                                   "scaler": self.scaler.state_dict(), "rng": rng_state(), "best": best,
                                   "best_epoch": best_epoch}
        self.run_dir.save_checkpoint({**payload, "trainer": trainer})


def _epoch_line(epoch: int, epochs: int, record: dict[str, float], metric: str) -> str:
    text = f"epoch {epoch + 1}/{epochs}: loss {record['loss']:.4f}, {record['images_per_s']:.1f} images/s"
    if metric in record:
        text += f", {metric} {record[metric]:.4f}"
    return text
