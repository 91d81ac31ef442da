"""Seeding in one place: derived seeds, RNG state for checkpoints and the deterministic data loader.

Every random stream a run draws from besides the global RNGs (the split order, a loader's shuffling, the
architectures a strategy samples to set a limit, ...) gets its seed from :func:`derive_seed` with the run's seed
and a purpose string: ``rng(ctx.seed, "probe")``. The formula is a hash, so streams never overlap by arithmetic
accident, and it is the same in every process and Python version. :func:`rng_state` / :func:`set_rng_state`
save and restore the global RNGs in a checkpoint; :func:`random_state` / :func:`restore_random` do the same for a
strategy's own ``random.Random``. torch and NumPy are imported only by the functions that need them.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader, Dataset

__all__ = ["derive_seed", "rng", "seed_everything", "rng_state", "set_rng_state", "random_state", "restore_random",
           "loader_generator", "seed_worker", "deterministic_loader", "RankBatches"]

_PERSON = b"gasnas-seed-v1"  # changing it changes every derived seed


def _encode(value: str | int) -> bytes:
    """``value`` tagged by its type and length: no two different key lists encode the same."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"seed keys are str or int, not {type(value).__name__} ({value!r})")
    if isinstance(value, str):
        tag, data = b"s", value.encode("utf-8")
    else:
        tag, data = b"i", value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return tag + len(data).to_bytes(8, "big") + data


def derive_seed(seed: int, *keys: str | int) -> int:
    """The seed of the stream ``keys`` (a purpose string first, then e.g. an epoch) of a run seeded ``seed``.

    A BLAKE2b hash of ``(seed, *keys)``, reduced to 63 bits: in ``[0, 2**63)``, so it seeds ``random.Random``,
    ``torch.Generator`` and ``DistributedSampler`` alike; any int seed works, negative or huge.
    """
    digest = hashlib.blake2b(b"".join(_encode(v) for v in (seed, *keys)), digest_size=8, person=_PERSON).digest()
    return int.from_bytes(digest, "big") >> 1


def rng(seed: int, *keys: str | int) -> random.Random:
    """A ``random.Random`` seeded with :func:`derive_seed` ``(seed, *keys)``."""
    return random.Random(derive_seed(seed, *keys))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) with ``seed``."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed % 2**64)  # the same as torch's own wrap of a negative seed; a huge one fits too


def random_state(r: random.Random) -> list[Any]:
    """``r``'s state as ``[version, [ints], gauss]``: plain types that JSON and ``torch.load(weights_only=True)``
    read back; :func:`restore_random` restores it."""
    version, internal, gauss = r.getstate()
    return [version, list(internal), gauss]


def _python_state(state: Sequence[Any]) -> tuple[Any, ...]:
    version, internal, gauss = state
    return version, tuple(internal), gauss


def restore_random(r: random.Random, state: Sequence[Any]) -> None:
    """Put ``r`` back in ``state`` (from :func:`random_state`, or a ``getstate()`` tuple)."""
    r.setstate(_python_state(state))


def rng_state() -> dict[str, Any]:
    """Every global RNG's state (Python, NumPy, torch, CUDA when available) in plain types and tensors, so that
    checkpoints load with ``weights_only``; :func:`set_rng_state` restores it."""
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the global RNGs from :func:`rng_state`'s dict (CUDA only when saved and available)."""
    import numpy as np
    import torch

    random.setstate(_python_state(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
    np.random.set_state((kind, keys.astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def loader_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """The generator that orders a loader's samples (and seeds its workers) in ``epoch`` of ``stream``."""
    import torch

    return torch.Generator().manual_seed(derive_seed(seed, "loader", epoch, stream))


def seed_worker(worker_id: int) -> None:
    """A loader worker's ``worker_init_fn``: seed Python and NumPy from the seed torch gave the worker."""
    import numpy as np
    import torch

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class RankBatches:
    """Rank ``rank``'s share of every batch of ``batches`` (a batch sampler over global batches of ``per_rank x
    world`` indices): the ``rank``-th contiguous slice of ``per_rank`` indices. The ranks' shares of a step are
    the one-process batch of that step, so ``world`` processes at ``per_rank`` see what one process sees at the
    global batch."""

    def __init__(self, batches: Any, rank: int, world: int, per_rank: int) -> None:
        self.batches, self.rank, self.world, self.per_rank = batches, rank, world, per_rank

    def __iter__(self) -> Any:
        start = self.rank * self.per_rank
        for batch in self.batches:
            yield batch[start:start + self.per_rank]

    def __len__(self) -> int:
        return len(self.batches)


def deterministic_loader(data: Dataset, *, batch_size: int, seed: int, epoch: int = 0, stream: int = 0,
                         shuffle: bool = False, drop_last: bool = False, workers: int = 0, pin_memory: bool = False,
                         shard: tuple[int, int] | None = None) -> DataLoader:
    """A loader whose order (and, with workers, augmentation) depends only on ``(seed, epoch, stream)``, so a
    resumed run replays the same batches.

    ``shard=(rank, world)`` (distributed training) draws the order of one process at the global batch
    ``batch_size x world`` and gives this rank its slice of ``batch_size`` of each global batch
    (:class:`RankBatches`), so ``world`` ranks together see the batches of one process at the global batch; a
    sharded loader always drops the last partial global batch (every rank must take the same steps)."""
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    generator = loader_generator(seed, epoch, stream)
    common = dict(num_workers=workers, pin_memory=pin_memory, generator=generator, worker_init_fn=seed_worker,
                  persistent_workers=False)
    if shard is None or shard[1] == 1:
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, **common)
    rank, world = shard
    order = RandomSampler(data, generator=generator) if shuffle else SequentialSampler(data)
    # what DataLoader(shuffle=shuffle, generator=generator) builds for one process, at the global batch
    batches = RankBatches(BatchSampler(order, batch_size * world, drop_last=True), rank, world, batch_size)
    return DataLoader(data, batch_sampler=batches, **common)
