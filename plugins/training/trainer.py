"""The train loop: a fixed network from scratch, validated each epoch, checkpointed atomically, resumable.

Each epoch appends one record to ``metrics.jsonl`` (loss, learning rate, images/s, ``val_<metric>``), writes
``checkpoint.pt`` (everything needed to continue) and, when the validation score improves, ``best.pt``. The
data order depends only on (seed, epoch) and every RNG is restored on resume, so on a CPU a resumed run ends
with the weights of an uninterrupted one.
"""

from __future__ import annotations

import json
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
    CheckpointError, ConfigError, DivergedError, LogReporter, PluginManager, ProgressTask, Reporter, RunInfo,
    RunDirectory, choose_threads, deterministic_loader, load_weights_into, resolve_device, rng_state, seed_everything,
    read_yaml, set_rng_state,
)
from gasnas.api import NullReporter, setup_distributed
from gasnas.api import STARTUP_SAMPLES, check_data
from gasnas.api.dataset import class_weights
from gasnas.api.evaluator import BACKGROUND_MARGIN, background_score
from gasnas.api.model import as_output, is_single_value_norm_error, segmentation_loss, single_value_norms
from gasnas_plugins.training.checkpoint import network_payload
from gasnas_plugins.training.config import TrainConfig
from gasnas_plugins.training.optim import build_optimizer, poly_schedule

__all__ = ["Trainer", "TrainResult", "make_loader", "tracked"]

log = logging.getLogger(__name__)

BEST_FILE = "best.pt"
INIT_REPORT = "init.json"


def make_loader(data: Dataset, *, batch_size: int, train: bool, seed: int, epoch: int = 0, workers: int = 0,
                pin_memory: bool = False, shard: tuple[int, int] | None = None) -> DataLoader:
    """A loader whose order (and, with workers, augmentation) depends only on ``(seed, epoch)``; ``shard=(rank,
    world)``: this rank's ``batch_size`` of every global batch of ``batch_size x world`` (torchrun)."""
    return deterministic_loader(data, batch_size=batch_size, seed=seed, epoch=epoch, shuffle=train,
                                drop_last=train and len(data) >= batch_size, workers=workers, pin_memory=pin_memory,
                                shard=shard)


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
    #: what a user must read about the result (a network that learned nothing says so)
    warnings: list[str] = field(default_factory=list)
    #: the score of predicting the most frequent class everywhere, on the split that picks the best checkpoint
    background: float | None = None


class Trainer:
    """Trains ``config.target`` on ``config.dataset`` into ``run_dir``; ``resume=True`` continues from its
    ``checkpoint.pt``."""

    def __init__(self, config: TrainConfig, run_dir: RunDirectory, *, pm: PluginManager,
                 reporter: Reporter | None = None, device: str | None = None, threads: int | None = None,
                 resume: bool = False) -> None:
        self.config = config
        self.options = config.train
        self.run_dir = run_dir
        self.pm = pm
        #: under torchrun: one process per device, each training on its share of every global batch; rank 0
        #: alone evaluates, writes and reports
        self.dist = setup_distributed()
        self.reporter = (reporter or LogReporter()) if self.dist.is_main else NullReporter()
        self.device = resolve_device(device or config.device)
        self.resume = resume
        #: the checkpoint to continue from (None for a fresh run, or a resumed one that has none yet): rank 0's
        self.checkpoint = self.dist.from_main(run_dir.load_checkpoint) if resume else None
        started = self.checkpoint.get("trainer", {}).get("threads") if self.checkpoint is not None else None
        self.threads = choose_threads(threads, config.torch_threads, started=started)

    # -- set-up ---------------------------------------------------------------------------------------------------

    def _build(self) -> None:
        cfg = self.config
        registry = self.pm.registry
        self.dataset = registry("datasets").get(cfg.dataset.name).build(cfg.dataset.params)
        self._check_data()
        self.evaluator = registry("evaluators").get(cfg.evaluator.name).build(cfg.evaluator.params)
        self.metric = f"{self.options.eval_split}_{self.evaluator.primary_metric}"
        self.model = cfg.target.build(self.dataset.num_classes, self.pm).to(self.device)
        self.net = self.dist.wrap(self.model)  # trains through DDP under torchrun (batch norm over the global batch)
        self.train_data = self.dataset.split("train", train=True)
        self.eval_data = self.dataset.split(self.options.eval_split, train=False)
        self._check_batches()
        if self.dist.enabled and len(self.train_data) < self.options.batch_size * self.dist.world_size:
            raise ConfigError(f"train.batch_size {self.options.batch_size} x {self.dist.world_size} processes is a "
                              f"global batch larger than the {len(self.train_data)} training images: no step would "
                              "run; lower train.batch_size or start fewer processes")
        batches = len(self.train_data) // (self.options.batch_size * self.dist.world_size) or 1
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
        self.teacher = None  # train.distill: a frozen teacher whose softened logits are a second target
        if o.distill is not None:
            from gasnas_plugins.training.distill import Teacher

            self.teacher = Teacher.load(o.distill, self.dataset.num_classes, self.pm, self.device)
            self.reporter.message(f"distilling from the {self.teacher.describe()}")

    def _check_data(self) -> None:
        """The data check of a fixed sample of the train and evaluation splits, before the network is built: its
        errors stop the run, its warnings are reported."""
        name, source = self.config.dataset.name, self.config.source
        splits = list(dict.fromkeys(("train", self.options.eval_split)))
        report = check_data(self.dataset, name, splits, STARTUP_SAMPLES)
        everything = f"gasnas data check {source}" if Path(source).is_file() else "gasnas data check CONFIG"
        report.raise_errors(f"(a start-up sample of at most {STARTUP_SAMPLES} items per split; {everything} "
                            "checks them all)")
        for warning in report.warnings:
            self.reporter.message(f"warning: data: {warning}")

    def _restore(self) -> tuple[int, float | None, int]:
        """(first epoch to run, best score so far, its epoch) -- from ``checkpoint.pt`` when resuming."""
        if not self.resume:
            return 0, None, -1
        payload = self.checkpoint
        if payload is None:  # nothing to resume: the epochs are redone, without duplicate records
            self.run_dir.truncate_metrics(-1)
            self.reporter.message(f"{self.run_dir.path}: no checkpoint to resume from; the training restarts at "
                                  "epoch 1")
            return 0, None, -1
        written = read_yaml(self.run_dir.config_file)[0] if self.run_dir.config_file.is_file() else None
        if not self.config.accepts(payload.get("config_digest"), written):
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

    def _initialise(self) -> None:
        """Load ``train.init`` into the fresh network (a resumed run has its checkpoint instead); the full key
        lists go to ``init.json``."""
        o = self.options
        match = load_weights_into(self.model, o.init, strict=o.init_mode == "strict", label="train.init",
                                  hint="Load the tensors that fit with --init-mode partial (train.init_mode)")
        self.run_dir.write_text(INIT_REPORT, json.dumps({"file": o.init, "mode": o.init_mode, **match.to_dict()},
                                                        indent=2))
        self.reporter.message(f"train.init {o.init}: {match.summary()} (every key: {INIT_REPORT})")

    # -- the loop -------------------------------------------------------------------------------------------------

    def fit(self) -> TrainResult:
        started = time.perf_counter()
        self.threads.apply()
        seed_everything(self.config.seed)
        self._build()
        start, best, best_epoch = self._restore()
        #: what the step and epoch event hooks learn about this run
        self.run = RunInfo(self.run_dir.path, self.config, resumed_from_epoch=start - 1 if start else None,
                           device=str(self.device), threads=self.threads, kind="train")
        if start:
            self.reporter.message(f"resuming after epoch {start} of {self.options.epochs}")
        elif self.options.init is not None:
            self._initialise()
        last: dict[str, float] = {}
        for epoch in range(start, self.options.epochs):
            record = self._train_epoch(epoch)
            if (epoch + 1) % self.options.eval_every == 0 or epoch + 1 == self.options.epochs:
                record.update(self.dist.from_main(self._evaluate, epoch))  # rank 0 evaluates, every rank learns it
            record["elapsed_s"] = round(time.perf_counter() - started, 3)
            improved = self.metric in record and (best is None or record[self.metric] > best)
            if improved:
                best, best_epoch = record[self.metric], epoch
            self.run_dir.append_metrics({"epoch": epoch, **record})
            if self.dist.is_main:
                self.pm.hook.gasnas_epoch_ended(run=self.run, epoch=epoch, metrics={"epoch": epoch, **record})
            self._save(epoch, record, best, best_epoch, improved)
            self.reporter.message(_epoch_line(epoch, self.options.epochs, record, self.metric))
            last = record
        files = {"best": self.run_dir.path / BEST_FILE, "checkpoint": self.run_dir.checkpoint_file,
                 "metrics": self.run_dir.metrics_file}
        if self.options.init is not None:
            files["init"] = self.run_dir.path / INIT_REPORT
        result = TrainResult(self.run_dir.path, self.metric, float("nan") if best is None else best, best_epoch,
                             last, files, time.perf_counter() - started)
        self._check_learned(result)
        return result

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
                             epoch=epoch, workers=o.workers, pin_memory=o.pin_memory, shard=self.dist.shard)
        self.model.train()
        total = torch.zeros((), device=self.device)
        first_bad = torch.full((), -1, device=self.device)  # the first step whose loss was not finite (no sync)
        images_seen = 0
        pending: list[tuple[int, torch.Tensor, float]] = []  # (step, loss, lr) not yet reported to the step hook
        tic = time.perf_counter()
        with self.reporter.progress(self.steps_per_epoch, f"epoch {epoch + 1}/{o.epochs}") as task:
            for step, (images, labels) in enumerate(loader):
                if step == self.steps_per_epoch:
                    break
                lr = float(self.optimizer.param_groups[0]["lr"])  # the rate this step uses
                loss = self._step(images, labels).detach()
                pending.append((epoch * self.steps_per_epoch + step, loss, lr))
                first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
                total += loss
                images_seen += images.shape[0]
                task.advance()
                if step % 10 == 0:  # the progress bar syncs here anyway
                    self._stop_if_diverged(first_bad, epoch)
                    task.update(loss=float(loss), lr=self.optimizer.param_groups[0]["lr"])
                    self._report_steps(pending)
        self._stop_if_diverged(first_bad, epoch)
        self._report_steps(pending)
        steps = min(self.steps_per_epoch, len(loader)) or 1
        self.dist.all_reduce_mean([total])  # the loss of the global batches
        images_seen *= self.dist.world_size
        mean_loss = float(total) / steps
        return {"loss": mean_loss, "lr": float(self.optimizer.param_groups[0]["lr"]),
                "images_per_s": images_seen / max(time.perf_counter() - tic, 1e-9),
                **(self.teacher.epoch_metrics() if self.teacher is not None else {})}

    def _report_steps(self, pending: list[tuple[int, torch.Tensor, float]]) -> None:
        """The steps in ``pending`` to the ``gasnas_step_ended`` hook (one device sync for all), then forget them."""
        if not self.dist.is_main:  # event hooks run on rank 0
            pending.clear()
        if not pending:
            return
        losses = torch.stack([loss for _, loss, _ in pending]).tolist()
        for (step, _, lr), loss in zip(pending, losses):
            self.pm.hook.gasnas_step_ended(run=self.run, step=step, metrics={"loss": loss, "lr": lr})
        pending.clear()

    def _step(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            try:
                out = self.net(images)
            except ValueError as exc:  # a batch of one image the check before training could not foresee
                if is_single_value_norm_error(exc):
                    raise ConfigError(f"a training batch of {images.shape[0]} image reached a batch-norm layer on "
                                      f"a 1 x 1 map, and training cannot normalise a single value per channel "
                                      f"(torch: {exc}); set train.batch_size (--batch-size) to 2 or more") from exc
                raise
            loss, _ = segmentation_loss(self.model, out, labels, self.criterion, self.options.aux_weight)
            if self.teacher is not None:
                loss = loss + self.teacher.term(images, as_output(out).logits)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.options.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.options.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        return loss

    def _check_batches(self) -> None:
        """Refuse, before the first epoch, batches of one image for a model that cannot train on them (a
        batch-norm layer on a 1 x 1 map, as after global pooling); batch 1 trains the models that can. (A split
        smaller than a batch trains as one batch; an empty one the data check refuses: every epoch takes a step.)"""
        samples, batch = len(self.train_data), self.options.batch_size
        if min(samples, batch) > 1:
            return
        x = torch.zeros(1, 3, *self.dataset.input_size, device=self.device)
        layers = single_value_norms(self.model, x)
        if layers:
            why, fix = (("train.batch_size is 1", "set train.batch_size (--batch-size) to 2 or more") if batch == 1
                        else (f"the train split of dataset '{self.config.dataset.name}' holds a single image",
                              "give the dataset more training images"))
            raise ConfigError(f"{why}, so every training step sees one image, and {self.config.target.describe()} "
                              f"batch-normalises a 1 x 1 map ({'layers' if len(layers) > 1 else 'layer'} "
                              f"{', '.join(layers[:3])}): training cannot normalise a single value per channel; {fix}")

    def _check_learned(self, result: TrainResult) -> None:
        """Flag a network that learned nothing: a best score not clearly above the all-background score."""
        if result.best_epoch < 0:  # never evaluated
            return
        result.background = background_score(self.evaluator, self.dataset, self.options.eval_split)
        if result.best < result.background + BACKGROUND_MARGIN:
            result.warnings.append(
                f"the best {self.metric} ({result.best:.4g}) is not clearly above the all-background score "
                f"({result.background:.4g}: predicting the most frequent class everywhere): the network learned next "
                "to nothing. Train longer (train.epochs), check train.lr and the dataset's labels")

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
                                   "best_epoch": best_epoch, "threads": self.threads.count}
        self.run_dir.save_checkpoint({**payload, "trainer": trainer})


def _epoch_line(epoch: int, epochs: int, record: dict[str, float], metric: str) -> str:
    text = f"epoch {epoch + 1}/{epochs}: loss {record['loss']:.4f}, {record['images_per_s']:.1f} images/s"
    if metric in record:
        text += f", {metric} {record[metric]:.4f}"
    return text
