"""Options of the ``cosearch`` strategy (no torch imported here: configs are checked before it loads)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gasnas.api import option
from gasnas_plugins.strategies.differentiable import DifferentiableOptions

__all__ = ["CoSearchOptions"]


@dataclass(frozen=True)
class CoSearchOptions(DifferentiableOptions):
    """FasterSeg's teacher-student co-search: the differentiable search of the student (every option below applies
    to it as to the ``differentiable`` strategy) and, over the same supernet, a teacher with its own architecture
    parameters, every width choice held at its widest candidate and no latency term."""

    teacher_weight: float = option(
        1.0, "weight of the teacher's cross-entropy in the supernet weights' loss, beside the student's (weight 1); "
             "ours: FasterSeg sums the two", ge=0, le=100)
    teacher_arch_lr: float | None = option(None, "Adam learning rate of the teacher's architecture parameters "
                                                 "(null: arch_lr)", gt=0, le=10)

    def check_config(self, config) -> Iterator[tuple[str, str]]:
        yield from super().check_config(config)
        if not self.bilevel:
            yield ("strategy.params.bilevel", "co-search trains both architectures on the architecture half of the "
                                              "train split and the weights on the other: set bilevel: true")
