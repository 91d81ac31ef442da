"""Rank awareness and the few collectives gasnas needs under ``torchrun``.

Under ``torchrun`` (one process per GPU, or per CPU share) the environment holds ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE``; :func:`setup` initialises the process group (gloo on CPU, nccl on GPU) and :class:`DistInfo`
gives what the engine and the strategies use: :meth:`~DistInfo.wrap` (batch norm over the global batch, then
``DistributedDataParallel``), :meth:`~DistInfo.from_main` (compute on rank 0, hand the result to every rank),
:meth:`~DistInfo.all_reduce_mean` and :meth:`~DistInfo.broadcast_module`. With one process everything is a
no-op, so plugins never need to care.

A collective that waits longer than ``GASNAS_DIST_TIMEOUT`` seconds (default :data:`DEFAULT_TIMEOUT_S`) fails,
and so does one whose peer died: :func:`lost_contact` turns either into a :class:`~gasnas.errors.DistributedError`.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from gasnas.errors import ConfigError, DistributedError, GasnasError

__all__ = ["DistInfo", "from_env", "setup", "shutdown", "lost_contact", "global_batchnorm", "TIMEOUT_ENV",
           "DEFAULT_TIMEOUT_S"]

log = logging.getLogger(__name__)

#: the environment variable holding the collectives' timeout in seconds
TIMEOUT_ENV = "GASNAS_DIST_TIMEOUT"
#: ours: long enough for rank 0 to measure a latency table while the others wait, short enough to stop a job
#: whose peer hangs within the hour
DEFAULT_TIMEOUT_S = 1800

T = TypeVar("T")


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

    @property
    def shard(self) -> tuple[int, int] | None:
        """``(rank, world size)`` for the training loaders when running distributed, else ``None``."""
        return (self.rank, self.world_size) if self.enabled else None

    def wrap(self, model: Any) -> Any:
        """``model`` for data-parallel training: its batch norms normalise over the global batch (in place, see
        :func:`global_batchnorm`), then ``DistributedDataParallel(model)``; ``model`` itself with one process."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        global_batchnorm(model)
        device_ids = [self.local_rank] if next(model.parameters()).is_cuda else None
        return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (any picklable object)."""
        if not self.enabled:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def from_main(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` computed on rank 0 only, its result handed to every rank. An exception on rank
        0 stops every rank: the same :class:`GasnasError` everywhere, or one naming rank 0's exception."""
        if not self.enabled:
            return fn(*args, **kwargs)
        failure: BaseException | None = None
        result: Any = None
        if self.is_main:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - re-raised below, after the other ranks learned of it
                failure = exc
        sent = self.broadcast(("ok", result) if failure is None else
                              ("error", failure if isinstance(failure, GasnasError) else
                               f"{type(failure).__name__}: {failure}"))
        if failure is not None:
            raise failure
        if sent[0] == "error":
            raise sent[1] if isinstance(sent[1], GasnasError) else GasnasError(
                f"rank {self.rank}: rank 0 failed ({sent[1]}); see rank 0's message")
        return sent[1]

    def all_reduce_mean(self, tensors: Iterable[Any]) -> None:
        """Replace each tensor (``None`` skipped) by its mean over the ranks, in place: the same bits on every rank."""
        if not self.enabled:
            return
        import torch.distributed as dist

        for tensor in tensors:
            if tensor is not None:
                dist.all_reduce(tensor)
                tensor /= self.world_size

    def broadcast_module(self, module: Any) -> Any:
        """Rank 0's parameters and buffers copied into ``module`` on every rank, in place; returns ``module``."""
        if self.enabled:
            import torch
            import torch.distributed as dist

            with torch.no_grad():
                for tensor in [*module.parameters(), *module.buffers()]:
                    dist.broadcast(tensor, src=0)
        return module


def from_env() -> DistInfo:
    return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                    int(os.environ.get("WORLD_SIZE", 1)))


def timeout_s() -> float:
    """The collectives' timeout: ``GASNAS_DIST_TIMEOUT`` seconds, else :data:`DEFAULT_TIMEOUT_S`."""
    text = os.environ.get(TIMEOUT_ENV)
    if text is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"{TIMEOUT_ENV}={text!r}: expected a positive number of seconds")
    return value


class _RankFilter(logging.Filter):
    def __init__(self, info: DistInfo) -> None:
        super().__init__()
        self.info = info

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = f"[rank {self.info.rank}] {record.msg}"
        return record.levelno >= logging.WARNING


def _stopped(signum: int, frame: Any) -> None:
    raise DistributedError(f"rank {from_env().rank}: stopped by signal {signal.Signals(signum).name}: torchrun stops "
                           "every process of a job when one of them fails (see its report of the first failure)")


def setup() -> DistInfo:
    """Initialise torch.distributed when launched by torchrun (gloo on CPU, nccl with CUDA; the timeout of
    :func:`timeout_s`); silence non-main ranks below WARNING; turn torchrun's SIGTERM into a clear error."""
    info = from_env()
    if info.enabled:
        import datetime

        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s()))
        if torch.cuda.is_available():
            torch.cuda.set_device(info.local_rank)
        logger = logging.getLogger("gasnas")
        if not info.is_main and not any(isinstance(f, _RankFilter) for f in logger.filters):
            logger.addFilter(_RankFilter(info))
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _stopped)
    return info


def shutdown() -> None:
    """Tear the process group down at the end of a command (quietly when there is none)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


#: what torch's collectives say when a peer is gone or too slow (gloo and nccl)
_LOST = ("connection closed by peer", "connection reset", "broken pipe", "timed out", "timeout", "nccl error",
         "gloo", "connection refused")


def lost_contact(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective's failure: a peer died, or waited past the timeout."""
    if isinstance(exc, DistributedError):
        return True
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return False
    if hasattr(dist, "DistError") and isinstance(exc, dist.DistError):
        return True
    return dist.is_available() and dist.is_initialized() and isinstance(exc, RuntimeError) and \
        any(s in str(exc).lower() for s in _LOST)


# -- batch norm over the global batch ------------------------------------------------------------------------------

def _all_reduce_sum(tensor: Any) -> Any:
    """The sum over the ranks of ``tensor``, differentiable: the gradient is summed over the ranks too."""
    import torch
    import torch.distributed as dist

    class AllReduceSum(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            out = x.clone()
            dist.all_reduce(out)
            return out

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            grad = grad.clone()
            dist.all_reduce(grad)
            return grad

    return AllReduceSum.apply(tensor)


def _global_batchnorm_class() -> type:
    import torch
    import torch.nn.functional as F
    from torch.nn.modules.batchnorm import _BatchNorm

    class GlobalBatchNorm(_BatchNorm):
        """Batch norm whose training statistics are those of the global batch (every rank's share): what one
        process computes at the global batch, on CPU too (torch's ``SyncBatchNorm`` is for GPUs). One all-reduce
        per layer and step; the parameter and buffer names are batch norm's, so state dicts are interchangeable."""

        def _check_input_dim(self, x: torch.Tensor) -> None:
            if x.dim() < 2:
                raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if not (self.training or self.running_mean is None):  # evaluation: the running statistics
                return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0,
                                    self.eps)
            dims = [0, *range(2, x.dim())]
            channels = x.shape[1]
            count = torch.tensor([x.numel() / channels], dtype=x.dtype, device=x.device)
            # shifted sums (the shift: the running mean, a constant) keep E[x^2] - E[x]^2 away from cancellation
            shift = self.running_mean.detach().view(1, -1, *[1] * (x.dim() - 2)) if self.running_mean is not None \
                else x.new_zeros(1)
            centred = x - shift
            sums = _all_reduce_sum(torch.cat([centred.sum(dims), (centred * centred).sum(dims), count]))
            n = sums[-1]
            mean_c = sums[:channels] / n
            var = (sums[channels:2 * channels] / n - mean_c * mean_c).clamp_min(0)
            mean = mean_c + shift.reshape(-1) if self.running_mean is not None else mean_c
            shape = (1, -1, *[1] * (x.dim() - 2))
            y = (x - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
            if self.affine:
                y = y * self.weight.view(shape) + self.bias.view(shape)
            if self.track_running_stats and self.running_mean is not None:
                with torch.no_grad():
                    self.num_batches_tracked += 1
                    m = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                    unbiased = var.detach() * n / (n - 1).clamp_min(1)
                    self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                    self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
            return y

    return GlobalBatchNorm


_GLOBAL_BN: type | None = None


def global_batchnorm(model: Any) -> Any:
    """Make every batch norm of ``model`` normalise over the global batch, in place (the same parameters and
    buffers): torch's ``SyncBatchNorm`` on CUDA, gasnas' ``GlobalBatchNorm`` on CPU. Returns ``model`` (or the
    replacement when ``model`` itself is a batch norm)."""
    global _GLOBAL_BN
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm

    if _GLOBAL_BN is None:
        _GLOBAL_BN = _global_batchnorm_class()

    def convert(module: Any) -> Any:
        if not isinstance(module, _BatchNorm) or isinstance(module, (_GLOBAL_BN, torch.nn.SyncBatchNorm)):
            return module
        on_gpu = module.running_mean is not None and module.running_mean.is_cuda or \
            module.weight is not None and module.weight.is_cuda
        kind = torch.nn.SyncBatchNorm if on_gpu else _GLOBAL_BN
        new = kind(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        new.weight, new.bias = module.weight, module.bias  # the same parameters: optimisers keep working
        new.running_mean, new.running_var = module.running_mean, module.running_var
        new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new

    def walk(parent: Any) -> None:
        for name, child in list(parent.named_children()):
            replaced = convert(child)
            if replaced is not child:
                setattr(parent, name, replaced)
            else:
                walk(child)

    root = convert(model)
    if root is model:
        walk(model)
    return root
