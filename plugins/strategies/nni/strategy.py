"""The ``nni`` strategy: NNI 3.0's strategies run in-process on a gasnas space, with gasnas's data and evaluator.

One-shot (DARTS, GumbelDARTS, RandomOneShot): the space's NNI ``ModelSpace`` is mutated into NNI's supernet
and trained by NNI's Lightning module around :class:`SegmentationModule` -- weights on one half of the train
split, architecture on the other (NNI's ``train``/``val`` loaders), as the differentiable strategy's bi-level
split -- for ``budget.epochs`` epochs; each epoch is scored with the gasnas evaluator. NNI exports one
architecture (top-1), and RandomOneShot exports a random one: both are said in the result's metadata.

Multi-trial (Random, RegularizedEvolution): NNI's sequential engine trains ``trials`` networks, each from scratch
for ``trial_epochs`` through a ``FunctionalEvaluator`` (NNI's stock Classification evaluator reuses its trainer
and breaks from the second trial) and scored with the gasnas evaluator; the best ``top_k`` are returned.

Everything NNI returns is an NNI sample dict, which is already a gasnas architecture.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gasnas.api import CheckpointError, ConfigError, IncompatibleComponentsError, SearchContext, SearchResult, closest
from gasnas.api.strategy import SearchStrategy
from gasnas_plugins.nni_support import quiet, require
from gasnas_plugins.strategies.nni import ONE_SHOT, NniStrategyOptions

__all__ = ["NniStrategy"]

log = logging.getLogger(__name__)

EXPORT_NOTES = {
    "DARTS": "top-1 only: NNI's one-shot export gives one architecture (argmax per choice; strongest distinct edges "
             "per cell node)",
    "GumbelDARTS": "top-1 only: NNI's one-shot export gives one architecture (argmax per choice)",
    "RandomOneShot": "a random sample: NNI's RandomOneShot trains a supernet by uniform path sampling and exports a "
                     "random architecture, not the best",
}
PENALTY_NOTE = ("no effect: NNI 3.0 computes its DARTS-family penalty from detached probabilities "
                "(export_probs), so it is a constant in the loss and does not move the architecture")


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """NNI logs every cell's sorted weights at INFO and warns that one-shot strategies need no validation loader;
    Lightning logs its devices and tips: keep NNI's errors and Lightning's warnings."""
    levels = {"nni": logging.ERROR, "pytorch_lightning": logging.WARNING, "lightning": logging.WARNING,
              "lightning.pytorch": logging.WARNING}
    loggers = [logging.getLogger(name) for name in levels]
    previous = [lg.level for lg in loggers]
    for lg, level in zip(loggers, levels.values()):
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, level in zip(loggers, previous):
            lg.setLevel(level)


def _plain(value: Any) -> Any:
    """Plain Python values (NNI's labels are a str subclass; its exports hold numpy scalars)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def _keywords(cls: type) -> set[str]:
    """The keyword arguments an NNI strategy class names along its bases (some swallow unknown ``**kwargs``)."""
    names: set[str] = set()
    for base in cls.__mro__:
        init = base.__dict__.get("__init__")
        if init is not None:
            names |= {p.name for p in inspect.signature(init).parameters.values()
                      if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"}
    return names - {"model_space", "engine"}


def plain_sample(sample: Any) -> dict[str, Any]:
    return {str(k): _plain(v) for k, v in sample.items()}


class NniStrategy(SearchStrategy):
    """See the module docstring; options: :class:`NniStrategyOptions`."""

    options: NniStrategyOptions

    def __init__(self, options: NniStrategyOptions | None = None) -> None:
        super().__init__(options or NniStrategyOptions())

    def train_shares(self) -> int:
        """One-shot: weights from one half of the train split, architecture from the other (NNI's train and val
        loaders); multi-trial: every trial trains on the whole split."""
        return 2 if self.options.algorithm in ONE_SHOT else 1

    def _check(self, ctx: SearchContext) -> None:
        if ctx.resume() is not None:
            raise CheckpointError("strategy 'nni' cannot resume: NNI's strategies keep their state inside NNI's "
                                  "engine and trainer; start a new search")
        if ctx.dist.enabled:
            raise IncompatibleComponentsError("strategy 'nni' runs NNI's sequential engine in one process; run it "
                                              "without torchrun")
        if ctx.config.communicator is not None:
            raise IncompatibleComponentsError(
                f"communicator '{ctx.config.communicator.name}': NNI's strategies have no communicator; remove the "
                "communicator section, or use strategy 'differentiable' for GAS's graph-guided search")

    def _nni_strategy(self, ctx: SearchContext) -> Any:
        o = self.options
        kwargs = dict(o.kwargs)
        if o.algorithm not in ONE_SHOT:
            kwargs.setdefault("seed", ctx.seed)  # NNI's multi-trial strategies draw from their own generator
        if o.penalty > 0:
            from gasnas_plugins.strategies.nni.penalty import latency_profiler

            if ctx.latency is None:
                raise ConfigError("strategy.params.penalty needs a latency section (a lut or flops estimator)")
            import torch

            devices = [ctx.device.index or 0] if ctx.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):  # the same run with and without a penalty
                profiler = latency_profiler(ctx.space, ctx.latency, ctx.input_shape, ctx.num_classes)
            baseline = ctx.latency_target or self._uniform(profiler)
            kwargs["penalty"] = {"profiler": profiler, "baseline": baseline, "scale": o.penalty}
            ctx.message(f"NNI's {o.algorithm} penalty: {PENALTY_NOTE}; gasnas's differentiable strategy has a latency "
                        "term that works (strategy.params.beta)")
        cls = getattr(require("nni.nas.strategy"), o.algorithm)
        known = _keywords(cls)
        for key in o.kwargs:
            if key not in known:
                raise ConfigError(f"strategy.params.kwargs: NNI's {o.algorithm} takes no '{key}'"
                                  f"{closest(key, known)}; it takes {', '.join(sorted(known))}")
        try:
            with quiet():
                return cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"strategy.params.kwargs: NNI's {o.algorithm} does not take them: {exc}") from None

    def _check_relaxable(self, model_space: Any) -> None:
        """NNI's one-shot strategies relax categorical choices only; name the first label that is not."""
        m = require("nni.mutable")
        for label, mutable in model_space.simplify().items():
            if not isinstance(mutable, (m.Categorical, m.CategoricalMultiple)):
                raise IncompatibleComponentsError(
                    f"label '{label}' is a {type(mutable).__name__} choice, which NNI's {self.options.algorithm} "
                    "cannot relax (one-shot strategies need categorical choices); use Random or "
                    "RegularizedEvolution, or nni.choice over a few values")

    @staticmethod
    def _uniform(profiler: Any) -> float:
        """The profiler's expectation under uniform probabilities (the penalty's baseline without a target)."""
        from nni.nas.oneshot.pytorch.supermodule._expression_utils import expression_expectation

        if isinstance(profiler.expression, (int, float)):
            return float(profiler.expression)
        leaves = profiler.expression.simplify()
        probs = {label: {v: 1.0 / len(leaf.values) for v in leaf.values} for label, leaf in leaves.items()}
        return float(expression_expectation(profiler.expression, probs))

    def search(self, ctx: SearchContext) -> SearchResult:
        from gasnas_plugins.strategies.nni.spaces import nni_model_space

        require("nni.nas.strategy", purpose="for the nni strategy")  # an install hint before anything imports nni
        self._check(ctx)
        o = self.options
        one_shot = o.algorithm in ONE_SHOT
        with quiet():
            model_space = nni_model_space(ctx.space, ctx.num_classes, one_shot=one_shot, algorithm=o.algorithm)
        if one_shot:
            self._check_relaxable(model_space)
        strategy = self._nni_strategy(ctx)
        if one_shot:
            return self._one_shot(ctx, model_space, strategy)
        return self._multi_trial(ctx, model_space, strategy)

    # -- one-shot ------------------------------------------------------------------------------------------------

    def _one_shot(self, ctx: SearchContext, model_space: Any, strategy: Any) -> SearchResult:
        from nni.nas.evaluator.pytorch.lightning import Lightning, Trainer
        from nni.nas.execution import SequentialExecutionEngine
        from nni.nas.space import RawFormatModelSpace

        from gasnas_plugins.strategies.nni.training import EpochReport, SegmentationModule

        o, budget = self.options, ctx.budget
        halves = ctx.split_indices("train", 2)
        report = EpochReport(ctx, o, export=lambda module: plain_sample(module.export()))
        device = ctx.device
        with _quiet_logs():
            trainer = Trainer(max_epochs=budget.epochs, limit_train_batches=budget.steps_per_epoch or 1.0,
                              accelerator="gpu" if device.type == "cuda" else "cpu",
                              devices=[device.index or 0] if device.type == "cuda" else 1,
                              logger=False, enable_checkpointing=False, enable_progress_bar=False,
                              enable_model_summary=False, num_sanity_val_steps=0, callbacks=[report])
        with quiet():  # NNI asks for nni.trace'd loaders, which only its remote training services need
            evaluator = Lightning(SegmentationModule(o, budget.epochs, ctx.dataset.ignore_index), trainer,
                                  train_dataloaders=ctx.loader("train", train=True, indices=halves[0], stream=0),
                                  val_dataloaders=ctx.loader("train", train=True, indices=halves[1], stream=1))
        with quiet(), _quiet_logs():
            try:  # NNI turns the space into its supernet here: what it cannot relax fails now, before training
                strategy.initialize(RawFormatModelSpace.from_model(model_space, evaluator), SequentialExecutionEngine())
            except (TypeError, ValueError, KeyError) as exc:
                raise IncompatibleComponentsError(f"NNI's {o.algorithm} cannot relax search space "
                                                  f"'{ctx.config.space.name}': {exc}") from exc
            strategy.run()
        sample = report.samples[-1]
        ctx.space.validate(sample)
        metadata = {"nni_strategy": o.algorithm, "nni_export": EXPORT_NOTES[o.algorithm]}
        if o.penalty > 0:
            metadata["nni_penalty"] = PENALTY_NOTE
        final = {"epoch_time_s": report.epoch_times[-1]}
        return SearchResult([ctx.architecture(sample, **metadata)], final)

    # -- multi-trial ---------------------------------------------------------------------------------------------

    def _multi_trial(self, ctx: SearchContext, model_space: Any, strategy: Any) -> SearchResult:
        import nni
        from nni.nas.evaluator import FunctionalEvaluator
        from nni.nas.execution import SequentialExecutionEngine
        from nni.nas.space import RawFormatModelSpace

        from gasnas_plugins.strategies.nni.training import train_and_score

        o = self.options
        key = f"val_{ctx.evaluator.primary_metric}"
        history: list[dict[str, Any]] = []
        progress = ctx.progress(o.trials, f"{o.algorithm} (NNI), {o.trials} trials")
        bar = progress.__enter__()

        def trial(model) -> None:
            sample = plain_sample(nni.get_current_parameter().sample)
            metrics = train_and_score(ctx, model, o, len(history))
            nni.report_final_result(metrics[key])
            history.append({"sample": sample, key: metrics[key]})
            ctx.end_epoch(len(history) - 1, {"trial": len(history) - 1, **metrics}, {"trials": history})
            bar.advance()
            bar.update(best=max(h[key] for h in history))

        try:
            with quiet(), _quiet_logs():
                strategy(RawFormatModelSpace.from_model(model_space, FunctionalEvaluator(trial)),
                         SequentialExecutionEngine(max_model_count=o.trials))
        finally:
            progress.__exit__(None, None, None)
        ranked = list(strategy.list_models(sort=True, limit=o.top_k))
        architectures = [ctx.architecture(plain_sample(m.sample), nni_strategy=o.algorithm,
                                          **{key: float(m.metric)}) for m in ranked]
        return SearchResult(architectures, {key: architectures[0].metadata[key], "trials": float(len(history))})
