"""The MAC and parameter counter (gasnas/runtime/macs.py) against values computed by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gasnas.runtime.macs import count


class Functional(nn.Module):
    """Ops without modules: they must count too."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * torch.sigmoid(x)  # 1x2x4x4: 32 elementwise
        up = F.interpolate(y, size=(8, 8), mode="bilinear", align_corners=False)  # 4 x 128 outputs
        near = F.interpolate(y, size=(8, 8), mode="nearest")  # free
        pooled = F.avg_pool2d(up + near, 3, 2, 1)  # add: 128; pool: 2x4x4 outputs x 9
        return F.max_pool2d(pooled, 2) + F.adaptive_avg_pool2d(pooled, 1)  # max: free; adaptive: 32; add: 8


class TrainOnlyHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 1, bias=False)
        self.aux = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y + self.aux(y) if self.training else y


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv(x))


@pytest.mark.parametrize(("module", "shape", "macs", "params"), [
    # out 8x8x8 = 512 outputs x (3 x 3 x 3) + 512 bias
    (nn.Conv2d(3, 8, 3, stride=2, padding=1), (1, 3, 16, 16), 512 * 27 + 512, 8 * 27 + 8),
    # grouped, dilated: 16x10x10 outputs x (8/4 x 3 x 3)
    (nn.Conv2d(8, 16, 3, padding=2, dilation=2, groups=4, bias=False), (1, 8, 10, 10), 1600 * 18, 16 * 18),
    # depthwise stride 2: 4x5x5 outputs x 9
    (nn.Conv2d(4, 4, 3, 2, 1, groups=4, bias=False), (1, 4, 9, 9), 100 * 9, 36),
    # transposed: 36 inputs x (2 x 2 x 2) + 2x6x6 bias
    (nn.ConvTranspose2d(4, 2, 2, stride=2), (1, 4, 3, 3), 36 * 8 + 72, 4 * 2 * 4 + 2),
    # batch of 2: twice the MACs
    (nn.Conv2d(3, 8, 1, bias=False), (2, 3, 4, 4), 2 * 128 * 3, 24),
    (nn.Linear(10, 6), (3, 10), 3 * 10 * 6 + 18, 66),
    (nn.Conv1d(2, 3, 5, bias=False), (1, 2, 9), 3 * 5 * 2 * 5, 30),
    (nn.BatchNorm2d(8), (1, 8, 4, 4), 128, 16),
    (Functional(), (1, 2, 4, 4), 32 + 4 * 128 + 128 + 32 * 9 + 32 + 8, 0),
])
def test_counts_match_hand_computed_values(module, shape, macs, params):
    counts = count(module, shape)
    assert (counts.macs, counts.params) == (macs, params)
    assert count(module, shape, device="cpu") == counts


def test_conv_macs_are_what_papers_count():
    net = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(16, 2))
    counts = count(net, (1, 3, 2, 2))
    assert counts.by_op == {"conv": 48, "norm": 16, "linear": 32 + 2}
    assert counts.conv_macs == 48 + 34 and counts.macs == 48 + 16 + 34


def test_only_the_inference_path_counts_and_the_model_is_left_alone():
    net = TrainOnlyHead().train()
    counts = count(net, (1, 3, 4, 4))
    assert (counts.macs, counts.params) == (4 * 16 * 3, 12)
    assert net.training and next(net.parameters()).device.type == "cpu"
    assert count(net, (1, 3, 4, 4), device="cpu") == counts and net.training


def test_a_shared_weight_counts_once_but_runs_twice():
    counts = count(Shared(), (1, 4, 2, 2))
    assert (counts.macs, counts.params) == (2 * 16 * 4, 16)


def test_data_dependent_models_fall_back_to_the_cpu():
    class DataDependent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) if float(x.sum()) >= 0 else x

    assert count(DataDependent(), (1, 1, 2, 2)).macs == 4


def test_modules_with_several_inputs_take_a_list_of_shapes():
    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1, bias=False)

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return self.conv(a) + b

    counts = count(TwoInputs(), [(1, 2, 3, 3), (1, 2, 3, 3)])
    assert counts.by_op == {"conv": 18 * 2, "elementwise": 18} and counts.params == 4
