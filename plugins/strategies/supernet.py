"""What the native strategies share in training a supernet's weights."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["weight_optimizer", "criterion"]


#: what to try when a supernet's training diverges (a NaN or infinite loss)
DIVERGED_ADVICE = ("lower strategy.params.weight_lr (or arch_lr), or set grad_clip; then resume the run with "
                   "gasnas search --resume RUN_DIR, which starts from its last good checkpoint")


def weight_optimizer(params: Any, options: Any, epochs: int
                     ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.CosineAnnealingLR]:
    """The weights' optimiser (``options.weight_optimizer``: SGD with momentum, or AdamW) and its cosine
    schedule from ``weight_lr`` to ``weight_lr_min`` over ``epochs``."""
    o = options
    if o.weight_optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=o.weight_lr, momentum=o.momentum, weight_decay=o.weight_decay)
    else:
        optimizer = torch.optim.AdamW(params, lr=o.weight_lr, weight_decay=o.weight_decay)
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(epochs, 1), eta_min=o.weight_lr_min)


def criterion(ctx: Any, power: float) -> torch.nn.CrossEntropyLoss:
    """Cross-entropy over the dataset's classes, weighted by ``f_c ** -power`` of the train split's pixel
    frequencies (:func:`gasnas.api.dataset.class_weights`; ``power`` 0: unweighted), ignoring the ignore index."""
    from gasnas.api.dataset import class_weights

    weights = class_weights(ctx.dataset.class_counts("train"), power)
    return torch.nn.CrossEntropyLoss(weight=None if weights is None else weights.to(ctx.device),
                                     ignore_index=ctx.dataset.ignore_index)
