"""What a search strategy is handed: the :class:`SearchContext` protocol, which the engine implements.

A strategy sees the run only through this protocol -- the configured components, the data, the latency
estimator and target, progress, metrics and checkpoints -- so that it never imports the engine, and a test or
another runner can hand it anything that has these members. Importing this module imports neither torch nor the
engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader

    from gasnas.api.communicator import Communicator
    from gasnas.api.dataset import SegmentationDataset
    from gasnas.api.evaluator import Evaluator
    from gasnas.api.latency import ExpectedLatency, LatencyEstimator
    from gasnas.api.space import RelaxedChoice, SearchSpace
    from gasnas.architecture import Architecture
    from gasnas.config import BudgetConfig, SearchConfig
    from gasnas.reporting import Reporter
    from gasnas.run import RunDirectory, RunInfo

__all__ = ["SearchContext"]


@runtime_checkable
class SearchContext(Protocol):
    """Everything a strategy may use; the engine owns seeding, devices, data loading, checkpoints, metrics and
    progress, and hands the strategy one of these."""

    #: the validated search config
    config: SearchConfig
    #: the strategy's own parsed options (``config.strategy.params``)
    options: Any
    space: SearchSpace
    dataset: SegmentationDataset
    evaluator: Evaluator
    #: the configured latency estimator (None without a ``latency`` section)
    latency: LatencyEstimator | None
    #: the latency budget in the estimator's unit: ``latency.target``, or ``latency.target_relative`` times the
    #: median estimated latency of random architectures of the space (None without a target)
    latency_target: float | None
    device: torch.device
    #: the distributed setting (:class:`gasnas.distributed.DistInfo`: ``enabled``, ``is_main``, ``world_size``,
    #: ``barrier()``, ``wrap(model)``, ``from_main(fn)``, ``all_reduce_mean(tensors)``, ``broadcast_module(m)``)
    dist: Any
    seed: int
    budget: BudgetConfig
    run_dir: RunDirectory
    run: RunInfo
    reporter: Reporter
    #: the network input the latency is estimated at: (1, 3, height, width)
    input_shape: tuple[int, int, int, int]

    @property
    def num_classes(self) -> int:
        """The dataset's number of classes."""
        ...

    def communicator(self, choices: Sequence[RelaxedChoice]) -> Communicator | None:
        """The configured communicator over ``choices`` (``None`` when the config names none)."""
        ...

    def expected_latency(self) -> ExpectedLatency:
        """The differentiable E[LAT] of the configured estimator over the supernet's relaxed choices."""
        ...

    def estimate_latency(self, sample: Mapping[str, Any]) -> float | None:
        """The configured estimator's latency of ``sample`` (None without a latency section), on a forked RNG."""
        ...

    def architecture(self, sample: Mapping[str, Any], **metadata: Any) -> Architecture:
        """An :class:`~gasnas.architecture.Architecture` of this run's space."""
        ...

    def split_indices(self, split: str, parts: int = 2) -> list[list[int]]:
        """``split``'s indices dealt into ``parts`` disjoint, seeded shares (e.g. weights vs architecture)."""
        ...

    def loader(self, split: str, *, train: bool, indices: Sequence[int] | None = None, epoch: int = 0,
               shuffle: bool | None = None, batch_size: int | None = None, drop_last: bool | None = None,
               stream: int = 0) -> DataLoader:
        """A loader whose order depends only on (seed, epoch, stream): resuming replays the same batches."""
        ...

    def wrap(self, model: Any) -> Any:
        """The model wrapped for distributed data parallel when running under torchrun."""
        ...

    def progress(self, total: int | None, description: str) -> Any:
        """A progress bar (a context manager with ``advance()`` and ``update(**fields)``)."""
        ...

    def message(self, text: str) -> None:
        """A line for the user (printed once under torchrun)."""
        ...

    def resume(self) -> tuple[int, dict[str, Any]] | None:
        """``(last completed epoch, strategy state)`` when resuming, with every RNG restored; else ``None``."""
        ...

    def resume_into(self, load_state: Callable[[Mapping[str, Any]], None]) -> int:
        """The epoch to start from: 0 on a fresh run; when resuming, ``load_state(state)`` is called with the
        strategy state of the last completed epoch (every RNG restored) and the next epoch is returned."""
        ...

    def end_step(self, metrics: Mapping[str, float]) -> None:
        """Report one training step's values (e.g. ``{"ce": 2.1}``) to the ``gasnas_step_ended`` event hook
        (loggers such as TensorBoard); the engine numbers the steps of the run, across resumes."""
        ...

    def end_epoch(self, epoch: int, metrics: Mapping[str, float], state: Mapping[str, Any]) -> None:
        """Record ``epoch``: metrics to ``metrics.jsonl`` and the event hook, then an atomic checkpoint."""
        ...
