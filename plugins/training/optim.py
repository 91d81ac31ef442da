"""Optimisers and the poly learning-rate schedule used to train segmentation networks."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["parameter_groups", "build_optimizer", "poly_schedule"]


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights with decay; biases and normalisation parameters (1-D tensors) without."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, name: str, *, lr: float, momentum: float = 0.9,
                    weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """SGD with momentum (Nesterov off, as in the BiSeNet/STDC recipes) or AdamW."""
    groups = parameter_groups(model, weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; use sgd or adamw")


def poly_schedule(optimizer: torch.optim.Optimizer, total_steps: int, *, power: float = 0.9,
                  warmup_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """``lr * (1 - step / total) ** power`` after ``warmup_steps`` of linear warm-up; stepped once per step."""
    total = max(1, total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, 1.0 - step / total) ** power

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
