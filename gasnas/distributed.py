"""Rank awareness: which process this is, so that only rank 0 writes files and reports.

Under ``torchrun`` (one process per GPU) the environment holds ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``;
:func:`setup` initialises the process group and :meth:`DistInfo.wrap` wraps a model in
``DistributedDataParallel``. With one process everything is a no-op, so plugins never need to care.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["DistInfo", "from_env", "setup"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes checkpoints, metrics and files (rank 0)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def wrap(self, model: Any) -> Any:
        """``DistributedDataParallel(model)`` when running distributed, else ``model``."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.local_rank] if next(model.parameters()).is_cuda else None
        return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()


def from_env() -> DistInfo:
    return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                    int(os.environ.get("WORLD_SIZE", 1)))


class _RankFilter(logging.Filter):
    def __init__(self, info: DistInfo) -> None:
        super().__init__()
        self.info = info

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = f"[rank {self.info.rank}] {record.msg}"
        return record.levelno >= logging.WARNING


def setup() -> DistInfo:
    """Initialise torch.distributed when launched by torchrun; silence non-main ranks below WARNING."""
    info = from_env()
    if info.enabled:
        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(info.local_rank)
        if not info.is_main:
            logging.getLogger("gasnas").addFilter(_RankFilter(info))
    return info
