"""The engine: builds the components a config names and runs the strategy with what every strategy needs.

The engine owns deterministic seeding, the device and CPU threads (:mod:`gasnas.threads`), data loaders with a
reproducible order, checkpoints (atomic, every epoch) and resume, ``metrics.jsonl``, progress, the event hooks,
and the final files. Strategies reach all of it through :class:`~gasnas.api.context.SearchContext` (the
protocol; :class:`EngineContext` is the engine's).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gasnas import distributed
from gasnas.api.context import SearchContext
from gasnas.architecture import Architecture
from gasnas.config import SearchConfig, check_device, load_config, read_yaml
from gasnas.errors import (
    CheckpointError, ConfigError, DataError, DistributedError, DivergedError, GasnasError, LatencyError, PluginError,
    ensure_finite,
)
from gasnas.plugins import PluginManager, get_plugin_manager
from gasnas.reporting import LogReporter, NullReporter, Reporter
from gasnas.run import RunDirectory, RunInfo, SearchResult
from gasnas.seeding import deterministic_loader, rng, rng_state, seed_everything, set_rng_state
from gasnas.threads import Threads, choose_threads

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader

    from gasnas.api.communicator import Communicator
    from gasnas.api.dataset import SegmentationDataset
    from gasnas.api.evaluator import Evaluator
    from gasnas.api.latency import ExpectedLatency, LatencyEstimator
    from gasnas.api.space import RelaxedChoice, SearchSpace
    from gasnas.api.strategy import SearchStrategy

__all__ = ["Engine", "EngineContext", "SearchContext", "seed_everything", "resolve_device", "rng_state",
           "set_rng_state", "REFERENCE_SAMPLES"]

log = logging.getLogger(__name__)

#: random architectures whose median estimated latency a relative latency target (latency.target_relative) scales
REFERENCE_SAMPLES = 64


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a clear error."""
    import torch

    try:
        check_device(name)  # the same names that config check accepts
    except ValueError as exc:
        raise ConfigError(f"device: {exc}") from None
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: '{name}' was asked for but CUDA is not available here; use --device cpu")
    return device


#: what to try when a search diverges
DIVERGED_ADVICE = ("lower the strategy's learning rates (see its options), then resume with gasnas search --resume "
                   "RUN_DIR")


def _non_finite_tensor(state: Any, path: str = "") -> str | None:
    """The key path of the first floating-point tensor in ``state`` (nested mappings and sequences) that holds
    NaN or infinity, else None."""
    import torch

    if isinstance(state, torch.Tensor):
        if state.is_floating_point() and not bool(torch.isfinite(state).all()):
            return path or "(the state)"
        return None
    if isinstance(state, Mapping):
        items = state.items()
    elif isinstance(state, (list, tuple)):
        items = enumerate(state)
    else:
        return None
    for key, value in items:
        found = _non_finite_tensor(value, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


class EngineContext(SearchContext):
    """The engine's :class:`~gasnas.api.context.SearchContext`: everything a strategy may use, owned by the
    engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.config: SearchConfig = engine.config
        self.options: Any = engine.config.strategy.params
        self.space: SearchSpace = engine.space
        self.dataset: SegmentationDataset = engine.dataset
        self.evaluator: Evaluator = engine.evaluator
        self.latency: LatencyEstimator | None = engine.latency
        #: the latency budget in the estimator's unit: latency.target, or latency.target_relative times the
        #: space's reference latency (None without a target)
        self.latency_target: float | None = engine.latency_target
        self.latency_target_ms: float | None = engine.latency_target  # the older name of latency_target
        self.device: torch.device = engine.device
        self.dist = engine.dist
        self.seed: int = engine.config.seed
        self.budget = engine.config.budget
        self.run_dir: RunDirectory = engine.run_dir
        self.run: RunInfo = engine.run
        self.reporter: Reporter = engine.reporter
        self.input_shape: tuple[int, int, int, int] = (1, 3, *engine.dataset.input_size)
        self._expected: ExpectedLatency | None = None

    # -- components -------------------------------------------------------------------------------------------

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    def communicator(self, choices: Sequence[RelaxedChoice]) -> Communicator | None:
        """The configured communicator over ``choices`` (``None`` when the config names none)."""
        section = self.config.communicator
        if section is None:
            return None
        return self._engine.pm.registry("communicators").get(section.name).build(section.params, choices)

    def expected_latency(self) -> ExpectedLatency:
        """The differentiable E[LAT] of the configured estimator over the supernet's relaxed choices."""
        if self.latency is None:
            raise LatencyError("this strategy needs a latency estimator, but the config has no 'latency' section")
        if self._expected is None:
            expected = self.latency.expected(self.space, self.input_shape)
            if expected is None:
                raise LatencyError(
                    f"latency estimator '{self.config.latency.name}' times whole networks and cannot give a "
                    "differentiable expected latency; use a block-table estimator (e.g. lut or flops) for the "
                    "search and name this one under latency.measure")
            # rank 0's costs on every rank (each may have timed its own table): the ranks' E[LAT] agree
            self._expected = self.dist.broadcast_module(expected.to(self.device))
        return self._expected

    def estimate_latency(self, sample: Mapping[str, Any]) -> float | None:
        """The configured estimator's latency of ``sample`` (None without a latency section).

        Estimators may build and initialise blocks they have not seen (a lookup table times them, a MAC counter
        counts them): that runs on a forked RNG, so that estimating a candidate never changes what the search
        draws next -- nor does whether a block happened to be estimated before a resume.
        """
        import torch

        if self.latency is None:
            return None
        with torch.random.fork_rng(devices=[]):
            return float(self.latency.estimate(self.space, sample, self.input_shape))

    def architecture(self, sample: Mapping[str, Any], **metadata: Any) -> Architecture:
        """An :class:`Architecture` of this run's space."""
        from gasnas.options import options_to_dict

        params = self.config.space.params
        return Architecture(dict(sample), self.config.space.name,
                            options_to_dict(params) if params is not None else {}, metadata)

    # -- data ----------------------------------------------------------------------------------------------------

    def split_indices(self, split: str, parts: int = 2) -> list[list[int]]:
        """``split``'s indices dealt into ``parts`` disjoint, seeded shares (e.g. weights vs architecture)."""
        n = len(self.dataset.split(split, train=False))
        order = list(range(n))
        rng(self.seed, "split-order").shuffle(order)
        return [sorted(order[i::parts]) for i in range(parts)]

    def loader(self, split: str, *, train: bool, indices: Sequence[int] | None = None, epoch: int = 0,
               shuffle: bool | None = None, batch_size: int | None = None, drop_last: bool | None = None,
               stream: int = 0) -> DataLoader:
        """A loader whose order depends only on (seed, epoch, stream): resuming replays the same batches.

        Under torchrun a training loader (``train=True``) gives each rank its share of every global batch of
        ``batch_size x world size`` (:func:`~gasnas.seeding.deterministic_loader`); an evaluation loader is not
        sharded: every rank evaluates the whole split, and its scores are those of one process."""
        from torch.utils.data import Subset

        data = self.dataset.split(split, train=train)
        total = len(data)
        if indices is not None:
            data = Subset(data, list(indices))
        loader = deterministic_loader(
            data, batch_size=batch_size or self.budget.batch_size, seed=self.seed, epoch=epoch, stream=stream,
            shuffle=train if shuffle is None else shuffle, drop_last=train if drop_last is None else drop_last,
            workers=self.budget.workers, pin_memory=self.budget.pin_memory, shard=self.dist.shard if train else None)
        if train and len(loader) == 0:  # a training loop over it would take no step, and learn nothing
            where = f"the {split} split of dataset '{self.config.dataset.name}'"
            where = (f"this training loader draws from {len(data)} of the {total} samples of {where}"
                     if indices is not None else f"{where} holds {total} samples")
            raise too_few_samples(batch_size or self.budget.batch_size, len(data), where, self.dist.world_size)
        return loader

    def wrap(self, model: Any) -> Any:
        """The model wrapped for distributed data parallel when running under torchrun."""
        return self.dist.wrap(model)

    # -- progress, metrics, checkpoints ---------------------------------------------------------------------------

    def progress(self, total: int | None, description: str) -> Any:
        return self.reporter.progress(total, description)

    def message(self, text: str) -> None:
        if self.dist.is_main:
            self.reporter.message(text)

    def resume(self) -> tuple[int, dict[str, Any]] | None:
        """``(last completed epoch, strategy state)`` when resuming, with every RNG restored; else ``None``."""
        payload = self._engine.checkpoint
        if payload is None:
            return None
        set_rng_state(payload["rng"])
        return int(payload["epoch"]), payload["state"]

    def resume_into(self, load_state: Callable[[Mapping[str, Any]], None]) -> int:
        """The epoch to start from: 0 on a fresh run; when resuming, ``load_state(state)`` is called with the
        strategy state of the last completed epoch (every RNG restored) and the next epoch is returned."""
        resumed = self.resume()
        if resumed is None:
            return 0
        epoch, state = resumed
        load_state(state)
        return epoch + 1

    def end_step(self, metrics: Mapping[str, float]) -> None:
        """One training step's values to the ``gasnas_step_ended`` hook; steps are numbered over the whole run (the
        count is checkpointed with each epoch, so a resumed run goes on from it)."""
        engine = self._engine
        if self.dist.is_main:
            engine.pm.hook.gasnas_step_ended(run=self.run, step=engine.steps, metrics=dict(metrics))
        engine.steps += 1

    def end_epoch(self, epoch: int, metrics: Mapping[str, float], state: Mapping[str, Any]) -> None:
        """Record ``epoch``: metrics to ``metrics.jsonl`` and the event hook, then an atomic checkpoint. A metric
        or a state tensor that is not finite stops the run instead (:class:`~gasnas.errors.DivergedError`): the
        checkpoint of the last good epoch stays, and no architecture is derived from NaNs."""
        ensure_finite({k: float(v) for k, v in metrics.items()}, f"epoch {epoch}", DIVERGED_ADVICE)
        bad = _non_finite_tensor(state)
        if bad is not None:
            raise DivergedError(f"epoch {epoch}: the strategy's state {bad} holds NaN or infinite values; the run "
                                f"stopped and its last good checkpoint is kept; {DIVERGED_ADVICE}")
        record = {"epoch": epoch, **{k: float(v) for k, v in metrics.items()},
                  "elapsed_s": round(time.time() - self.run.started, 3)}
        self._engine.last_metrics = record
        if self.dist.is_main:
            self.run_dir.append_metrics(record)
            self._engine.pm.hook.gasnas_epoch_ended(run=self.run, epoch=epoch, metrics=record)
        self.run_dir.save_checkpoint({"epoch": epoch, "config_digest": self.config.digest, "state": dict(state),
                                      "rng": rng_state(), "threads": self._engine.threads.count,
                                      "steps": self._engine.steps})
        self.dist.barrier()


class Engine:
    """Builds a search from a config (or resumes one from its run directory) and runs it.

    ``Engine(config).run()`` returns the :class:`SearchResult`; ``Engine.resume(run_dir).run()`` continues a
    killed search from its last checkpoint.
    """

    def __init__(self, config: SearchConfig, *, pm: PluginManager | None = None, reporter: Reporter | None = None,
                 device: str | None = None, threads: int | None = None, run_dir: RunDirectory | None = None) -> None:
        self.config = config
        self.pm = pm or get_plugin_manager()
        self.dist = distributed.setup()
        # under torchrun only rank 0 reports (progress bars, messages); the others stay quiet
        self.reporter = (reporter or LogReporter()) if self.dist.is_main else NullReporter()
        self._device_name = device or config.device
        self._threads = threads  # --threads: before the config's (see gasnas.threads)
        self.threads: Threads | None = None
        self.run_dir = run_dir
        self.checkpoint: dict[str, Any] | None = None
        self.latency_target: float | None = None
        #: continuing a run directory (``resume``), as opposed to a fresh run
        self.resuming = False
        #: the record of the last epoch ended in this process (the final score of strategies that report none)
        self.last_metrics: dict[str, float] = {}
        #: training steps reported so far (``EngineContext.end_step``), from the checkpoint when resuming
        self.steps = 0
        #: what the start-up data check warned about
        self.data_warnings: list[str] = []

    @classmethod
    def resume(cls, run_dir: str | Path, *, pm: PluginManager | None = None, reporter: Reporter | None = None,
               device: str | None = None, threads: int | None = None) -> Engine:
        """An engine continuing the search in ``run_dir`` from its last checkpoint."""
        path = Path(run_dir)
        if not path.is_dir():
            raise CheckpointError(f"{path}: run directory not found")
        config_file = path / "config.yaml"
        if not config_file.is_file():
            raise CheckpointError(f"{path}: not a gasnas run directory (no config.yaml)")
        config = load_config(config_file, pm=pm)
        engine = cls(config, pm=pm, reporter=reporter, device=device, threads=threads)
        engine.run_dir = RunDirectory(path, writable=engine.dist.is_main)
        engine.checkpoint = engine.dist.from_main(engine.run_dir.load_checkpoint)  # rank 0's, on every rank
        engine.resuming = True
        if engine.checkpoint is not None and not config.accepts(engine.checkpoint.get("config_digest"),
                                                                written=read_yaml(config_file)[0]):
            raise CheckpointError(f"{engine.run_dir.checkpoint_file}: written for another config than "
                                  f"{config_file}; it cannot be resumed with this one")
        return engine

    def _build(self) -> None:
        from gasnas.api.latency import LatencyEnv

        cfg = self.config
        registry = self.pm.registry
        self.dataset = registry("datasets").get(cfg.dataset.name).build(cfg.dataset.params)
        self.space = registry("search spaces").get(cfg.space.name).build(cfg.space.params)
        self.evaluator = registry("evaluators").get(cfg.evaluator.name).build(cfg.evaluator.params)
        env = LatencyEnv(device=str(self.device), num_classes=self.dataset.num_classes,
                         progress=self.reporter.progress if self.dist.is_main else None)
        self.latency = self.measure = None
        if cfg.latency is not None:
            self.latency = registry("latency estimators").get(cfg.latency.name).build(cfg.latency.params, env)
            if cfg.latency.measure is not None:
                measure = cfg.latency.measure
                self.measure = registry("latency estimators").get(measure.name).build(measure.params, env)
        self.strategy = registry("strategies").get(cfg.strategy.name).build(cfg.strategy.params)

    def run(self) -> SearchResult:
        import torch

        cfg = self.config
        self.device = resolve_device(self._device_name)
        started = self.checkpoint.get("threads") if self.checkpoint is not None else None
        self.threads = choose_threads(self._threads, cfg.threads, started=started).apply()
        seed_everything(cfg.seed)
        if self.run_dir is None:
            name = cfg.name or f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.space.name}-{cfg.strategy.name}"
            path = self.dist.from_main(lambda: RunDirectory.create(cfg.output, name).path)  # rank 0 names it
            self.run_dir = RunDirectory(path, writable=self.dist.is_main)
        if not (self.run_dir.config_file.exists() and self.checkpoint is not None):
            self.run_dir.write_config(cfg)
        resumed = int(self.checkpoint["epoch"]) if self.checkpoint is not None else None
        self.steps = int(self.checkpoint.get("steps", 0)) if self.checkpoint is not None else 0
        if resumed is not None:
            self.run_dir.truncate_metrics(resumed)
        elif self.resuming:  # nothing to resume (the run was killed in its first epoch, or checkpoints deleted)
            self.run_dir.truncate_metrics(-1)  # the epochs are redone: no duplicate records
            if self.dist.is_main:
                self.reporter.message(f"{self.run_dir.path}: no checkpoint to resume from; the search restarts at "
                                      "epoch 0")
        self.run = RunInfo(self.run_dir.path, cfg, self.dist.is_main, resumed, device=str(self.device),
                           threads=self.threads)
        self._build()
        self._check_data()
        self._check_batches()
        input_shape = self._prepare_latency()
        if self.dist.is_main:
            self.pm.hook.gasnas_search_started(run=self.run)
        started = time.perf_counter()
        try:
            result = self.strategy.search(EngineContext(self))
        except GasnasError as exc:
            if isinstance(exc, DistributedError):
                raise self._lost(exc) from exc
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's bug: name it, keep the run
            from gasnas.api.model import is_single_value_norm_error

            if distributed.lost_contact(exc):
                raise self._lost(exc) from exc
            if is_single_value_norm_error(exc):
                raise one_image_batch_error(exc, cfg.budget.batch_size) from exc
            raise self._crash(exc) from exc
        if not result.architectures:
            raise GasnasError(f"strategy '{cfg.strategy.name}' derived no architecture")
        result.metrics.setdefault("search_time_s", time.perf_counter() - started)
        result.warnings[:0] = self.data_warnings  # said at start-up, and again beside the result
        with torch.no_grad():  # on rank 0 (it alone measures), for every rank
            result.architectures = self.dist.from_main(
                lambda: [self._annotate(a, rank, input_shape) for rank, a in enumerate(result.architectures)])
        self._write(result)
        if self.dist.is_main:
            self._check_learned(result)  # after the architectures are on disk: reading the val labels may fail
            for rank, arch in enumerate(result.architectures):
                self.pm.hook.gasnas_architecture_derived(run=self.run, architecture=arch, rank=rank)
            self.pm.hook.gasnas_search_finished(run=self.run, result=result)
            self.run_dir.write_text("summary.json", _summary_json(result))
        return result

    def _prepare_latency(self) -> tuple[int, ...]:
        """Prepare the latency estimator (rank 0 first: it may measure a table and cache it), resolve the latency
        target, and seed every RNG again; returns the search's input shape."""
        input_shape = (1, 3, *self.dataset.input_size)
        if self.latency is not None:
            self.dist.from_main(self.latency.prepare, self.space, input_shape)
            if not self.dist.is_main:
                self.latency.prepare(self.space, input_shape)
        self.latency_target = self.dist.from_main(self._resolve_target, input_shape)
        # Building components and measuring a latency table may draw random numbers (e.g. initialising the blocks
        # it times), or not when a cache answers: seed again so that the search never depends on what was cached.
        seed_everything(self.config.seed)
        return input_shape

    def restore(self) -> tuple[SearchStrategy, SearchContext]:
        """The strategy of a run directory opened with :meth:`resume`, set up on the run's components and loaded
        with the state of its last checkpoint, and the context it was set up on -- without searching, and
        without writing anything in the run directory. For tools that read what a search learned (its supernet's
        weights, its architecture distribution); the strategy must implement
        :meth:`~gasnas.api.strategy.SearchStrategy.restore`."""
        if self.run_dir is None or not self.resuming:
            raise CheckpointError("Engine.restore() reads a finished or interrupted run: open it with "
                                  "Engine.resume(run_dir)")
        if self.checkpoint is None:
            raise CheckpointError(f"{self.run_dir.path}: no checkpoint (checkpoint.pt) to restore the strategy from")
        self.run_dir = RunDirectory(self.run_dir.path, writable=False)
        self.device = resolve_device(self._device_name)
        self.threads = choose_threads(self._threads, self.config.threads).apply()
        seed_everything(self.config.seed)
        self.run = RunInfo(self.run_dir.path, self.config, self.dist.is_main, int(self.checkpoint["epoch"]),
                           device=str(self.device), threads=self.threads)
        self._build()
        self._prepare_latency()
        ctx = EngineContext(self)
        self.strategy.restore(ctx, self.checkpoint["state"])
        return self.strategy, ctx

    def _check_data(self) -> None:
        """The data check (:mod:`gasnas.datacheck`) of a fixed sample of the train and val splits, before any long
        preparation: its errors stop the search, its warnings are reported now and kept for the result."""
        from gasnas.datacheck import STARTUP_SAMPLES, check_data

        splits = [s for s in ("train", "val") if s in self.dataset.splits]
        report = check_data(self.dataset, self.config.dataset.name, splits, STARTUP_SAMPLES)
        report.raise_errors(f"(a start-up sample of at most {STARTUP_SAMPLES} items per split; gasnas data check "
                            f"{self.config.source} checks them all)")
        self.data_warnings = [f"data: {warning}" for warning in report.warnings]
        if self.dist.is_main:
            for warning in self.data_warnings:
                self.reporter.message(f"warning: {warning}")

    def _check_batches(self) -> None:
        """Refuse, before any long preparation, a train split in which one of the shares the strategy trains on
        (:meth:`~gasnas.api.strategy.SearchStrategy.train_shares`) cannot fill a batch: the search would take no
        training step and still end with an architecture."""
        shares = self.strategy.train_shares()
        if shares < 1:
            return
        total = len(self.dataset.split("train", train=True))
        samples = total // shares
        split = f"the train split of dataset '{self.config.dataset.name}'"
        where = f"{split} holds {total} samples"
        if shares > 1:
            where = (f"strategy '{self.config.strategy.name}' trains on {shares} disjoint shares of the {total} "
                     f"samples of {split} side by side (e.g. weights and architecture), the smallest holding {samples}")
        if samples // self.dist.world_size < self.config.budget.batch_size:
            raise too_few_samples(self.config.budget.batch_size, samples, where, self.dist.world_size)

    def _check_learned(self, result: SearchResult) -> None:
        """Flag a result that learned nothing: a final val score not clearly above the all-background score (the
        score of predicting the most frequent class everywhere) gets a warning, and the metrics say both."""
        from gasnas.api.evaluator import BACKGROUND_MARGIN, background_score

        key = f"val_{self.evaluator.primary_metric}"
        score = result.metrics.get(key, self.last_metrics.get(key))
        if score is None:  # the strategy reports no val score
            return
        baseline = background_score(self.evaluator, self.dataset, "val")
        result.metrics[f"background_{key}"] = baseline
        result.metrics["above_background"] = float(score >= baseline + BACKGROUND_MARGIN)
        if not result.metrics["above_background"]:
            result.warnings.append(
                f"the final {key} ({score:.4g}) is not clearly above the all-background score ({baseline:.4g}: "
                "predicting the most frequent class everywhere): the search learned next to nothing, so its "
                "architecture says little. Train longer (budget.epochs, budget.steps_per_epoch), check the "
                "strategy's learning rates (strategy.params) and the dataset's labels")

    def _crash(self, exc: BaseException) -> PluginError:
        """A :class:`PluginError` for an unexpected exception during the search: it names the component whose
        code raised it (the innermost frame in a configured component's package), else the plugin whose module
        raised it (an event hook), else the strategy; and the run directory and its last checkpoint."""
        from gasnas.registry import REGISTRY_TYPES

        owners = []  # (package or module, description), the strategy first
        for section in ("strategy", "space", "latency", "evaluator", "dataset", "communicator"):
            value = getattr(self.config, section)
            if value is not None:
                c = self.pm.registry(value.kind).get(value.name)
                owners.append((c.module.rpartition(".")[0] or c.module,
                               f"plugin '{c.plugin}' ({REGISTRY_TYPES[c.kind].noun} '{c.name}', section {section})"))
        hooks = [(info.module, f"plugin '{info.name}' ({info.module})") for info in self.pm.plugins.values()]
        modules, tb = [], exc.__traceback__
        while tb is not None:
            modules.append(str(tb.tb_frame.f_globals.get("__name__", "")))
            tb = tb.tb_next
        culprit = owners[0][1]
        for module in reversed(modules):  # the innermost frame that belongs to a component, else to a plugin
            hits = [o for o in owners if module == o[0] or module.startswith(o[0] + ".")] or \
                [o for o in hooks if module == o[0]]
            if hits:
                culprit = max(hits, key=lambda o: len(o[0]))[1]
                break
        checkpoint = self.run_dir.checkpoint_file
        kept = (f"its last checkpoint is kept (resume with gasnas search --resume {self.run_dir.path})"
                if checkpoint.exists() else "no epoch had finished, so there is no checkpoint to resume")
        return PluginError(f"{culprit} crashed during the search in {self.run_dir.path}: {type(exc).__name__}: "
                           f"{exc}; {kept}; run with --debug for the traceback")

    def _lost(self, exc: BaseException) -> DistributedError:
        """The error for a distributed run that lost a process (it died, or stopped answering within the
        collectives' timeout): what this rank saw, and how to resume."""
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        what = re.sub(r"^\[[^\]]*\]\s*", "", what.split(". This is typically")[0])  # gloo's source line, advice
        checkpoint = self.run_dir.checkpoint_file
        kept = (f"its last checkpoint is kept: resume with torchrun --nproc_per_node {self.dist.world_size} -m gasnas "
                f"search --resume {self.run_dir.path}" if checkpoint.exists() else
                "no epoch had finished, so there is no checkpoint to resume: start the search again")
        return DistributedError(f"rank {self.dist.rank} of {self.dist.world_size}: the distributed search in "
                                f"{self.run_dir.path} lost a process (it died, or did not answer within "
                                f"{distributed.TIMEOUT_ENV}={distributed.timeout_s():g} s): {what}; every rank "
                                f"stops; {kept}")

    def reference_latency(self, input_shape: tuple[int, ...]) -> float:
        """The median estimated latency of :data:`REFERENCE_SAMPLES` random architectures of the space (seeded by
        the config's seed, on forked RNGs: nothing the search draws later changes)."""
        import statistics

        import torch

        draws = rng(self.config.seed, "reference-latency")
        with torch.random.fork_rng(devices=[]):
            latencies = [self.latency.estimate(self.space, self.space.random_sample(draws), input_shape)
                         for _ in range(REFERENCE_SAMPLES)]
        return float(statistics.median(latencies))

    def _resolve_target(self, input_shape: tuple[int, ...]) -> float | None:
        section = self.config.latency
        if section is None or (section.target is None and section.target_relative is None):
            return None
        if section.target is not None:
            return section.target
        reference = self.reference_latency(input_shape)
        target = section.target_relative * reference
        if self.dist.is_main:
            self.reporter.message(
                f"latency target {target:.4g} {self.latency.unit}: {section.target_relative:g} x the median "
                f"estimated latency of {REFERENCE_SAMPLES} random architectures ({reference:.4g} {self.latency.unit})")
        return target

    def _annotate(self, arch: Architecture, rank: int, input_shape: tuple[int, ...]) -> Architecture:
        meta: dict[str, Any] = {"rank": rank, "seed": self.config.seed, "run": str(self.run_dir.path),
                                "input_shape": list(input_shape)}
        if self.latency_target is not None:
            meta["latency_target"] = round(self.latency_target, 4)
        if self.latency is not None:
            meta["estimated_latency"] = round(self.latency.estimate(self.space, arch.sample, input_shape), 4)
            meta["estimated_latency_unit"] = self.latency.unit
            meta["estimator"] = self.latency.describe()
        if self.measure is not None and rank == 0:
            meta["measured_latency"] = round(self.measure.estimate(self.space, arch.sample, input_shape), 4)
            meta["measured_latency_unit"] = self.measure.unit
            meta["measured_with"] = self.measure.describe()
        return arch.with_metadata(**meta)

    def _write(self, result: SearchResult) -> None:
        if not self.dist.is_main:
            return
        best = result.best
        result.files["architecture"] = best.save(self.run_dir.architecture_file)
        for rank, arch in enumerate(result.architectures):
            arch.save(self.run_dir.path / "architectures" / f"top{rank + 1}-{arch.id}.yaml")
        for picture in self.space.render(best.sample, self.run_dir.path / "cells"):
            result.files[picture.stem] = picture


def too_few_samples(batch_size: int, samples: int, where: str, world: int = 1) -> DataError:
    """The error for training batches that cannot be filled: ``samples`` (from ``where``) over ``world``
    processes, each dropping its last partial batch."""
    each = samples // world
    over = f" ({each} for each of {world} processes)" if world > 1 else ""
    return DataError(f"budget.batch_size is {batch_size}, but {where}{over}, and the last partial batch is dropped: no "
                     "training step would run, and the search would end with an architecture that learned nothing. "
                     f"Lower budget.batch_size to at most {max(each, 1)}, or give the dataset a larger train split "
                     "(see its dataset.params)")


def one_image_batch_error(exc: BaseException, batch_size: int) -> ConfigError:
    """The error for torch's refusal to batch-normalise one value per channel during the search."""
    also = "" if batch_size == 1 else " (and check that the strategy's batches hold at least 2 images each)"
    return ConfigError(f"budget.batch_size is {batch_size}: a batch of one image reached a batch-norm layer on a 1 x 1 "
                       f"map (as after global pooling), and training cannot normalise a single value per channel "
                       f"(torch: {exc}); set budget.batch_size to 2 or more{also}")


def _summary_json(result: SearchResult) -> str:
    import json

    return json.dumps({
        "metrics": result.metrics,
        "architectures": [{"id": a.id, **{k: v for k, v in a.metadata.items() if not isinstance(v, (dict, list))}}
                          for a in result.architectures],
        "files": {k: str(v) for k, v in result.files.items()},
        "warnings": list(result.warnings),
    }, indent=2, default=str)
