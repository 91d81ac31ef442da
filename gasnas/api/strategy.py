"""The search strategy contract: given the engine's context, find architectures."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gasnas.api.context import SearchContext
    from gasnas.run import SearchResult

__all__ = ["SearchStrategy"]


class SearchStrategy(ABC):
    """Searches a space. The engine owns seeding, devices, data loading, checkpoints, metrics and progress;
    the strategy calls them through :class:`~gasnas.api.context.SearchContext`.

    A strategy resumes by reading ``ctx.resume()`` at its start (or ``ctx.resume_into(load_state)``, which
    returns the epoch to start from) and handing its complete state to ``ctx.end_epoch(...)`` after each epoch;
    the engine writes the checkpoint atomically.
    """

    def __init__(self, options: Any = None) -> None:
        self.options = options

    def train_shares(self) -> int:
        """Into how many disjoint shares of the train split (as ``ctx.split_indices("train", n)`` deals them) the
        strategy's training steps draw batches from side by side: 1 by default (every step from the whole split),
        2 for a bi-level search (weights from one half, architecture from the other), 0 for a strategy that
        takes no training step. Before any long preparation (a latency table) the engine refuses a train split
        in which a share cannot fill one batch of ``budget.batch_size``: such a search would train nothing."""
        return 1

    @abstractmethod
    def search(self, ctx: SearchContext) -> SearchResult:
        """Run the search and return the derived architectures, best first."""

    def restore(self, ctx: SearchContext, state: Mapping[str, Any]) -> None:
        """Set the strategy up on ``ctx`` as its search would, then load ``state`` (what it handed to
        ``ctx.end_epoch``), without training or deriving anything: what
        :meth:`Engine.restore <gasnas.engine.Engine.restore>` calls for tools that read what a finished search
        learned. Strategies that keep nothing worth reading need not implement it."""
        from gasnas.errors import PluginError

        raise PluginError(f"strategy {type(self).__name__} cannot be restored from a checkpoint outside its search "
                          "(it does not implement SearchStrategy.restore)")
