from __future__ import annotations

import pytest
import torch
from torch import nn

from gasnas_plugins.training.optim import build_optimizer, parameter_groups, poly_schedule


def test_no_weight_decay_on_biases_and_norms():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    decay, no_decay = parameter_groups(net, 1e-4)
    assert decay["weight_decay"] == 1e-4 and len(decay["params"]) == 1
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 3


def test_poly_schedule_with_warmup():
    net = nn.Linear(2, 2)
    opt = build_optimizer(net, "sgd", lr=1.0, momentum=0.9)
    sched = poly_schedule(opt, 10, power=0.9, warmup_steps=2)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:2] == pytest.approx([0.5, 1.0])  # linear warm-up
    assert lrs[5] == pytest.approx((1 - 5 / 10) ** 0.9)
    assert opt.param_groups[0]["lr"] == 0.0
    assert isinstance(build_optimizer(net, "adamw", lr=0.1), torch.optim.AdamW)
