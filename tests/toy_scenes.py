"""A tiny real segmentation task for tests of search components: coloured rectangles on noise.

Test-only (registered through the `register` fixture): the class of a rectangle is its colour, so a network
must read local colour and boundaries. Images are 3 x 32 x 64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from gasnas import hookimpl
from gasnas.api.dataset import SegmentationDataset
from gasnas.api.evaluator import EvaluationResult, Evaluator
from gasnas.options import option

COLOURS = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.2, 0.2], [0.2, 1.0, 0.2], [0.2, 0.2, 1.0]])


class _Rectangles(Dataset):
    def __init__(self, n: int, seed: int, size: tuple[int, int]) -> None:
        g = torch.Generator().manual_seed(seed)
        h, w = size
        self.images = torch.randn(n, 3, h, w, generator=g) * 0.3
        self.labels = torch.zeros(n, h, w, dtype=torch.long)
        for i in range(n):
            for _ in range(3):
                cls = int(torch.randint(1, 4, (1,), generator=g))
                y0, x0 = int(torch.randint(0, h - 8, (1,), generator=g)), int(torch.randint(0, w - 8, (1,), generator=g))
                hh, ww = int(torch.randint(6, 16, (1,), generator=g)), int(torch.randint(6, 24, (1,), generator=g))
                self.images[i, :, y0:y0 + hh, x0:x0 + ww] += COLOURS[cls].view(3, 1, 1)
                self.labels[i, y0:y0 + hh, x0:x0 + ww] = cls

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


@dataclass(frozen=True)
class RectanglesOptions:
    train: int = option(32, "train images")
    val: int = option(8, "val images")


class Rectangles(SegmentationDataset):
    num_classes = 4
    class_names = ("background", "red", "green", "blue")
    palette = ((0, 0, 0), (255, 50, 50), (50, 255, 50), (50, 50, 255))

    def __init__(self, options: RectanglesOptions) -> None:
        self.options = options
        self._splits = {"train": _Rectangles(options.train, 0, (32, 64)), "val": _Rectangles(options.val, 1, (32, 64))}

    @property
    def input_size(self):
        return (32, 64)

    def split(self, name, *, train=False):
        return self._splits[name]


class MeanIoU(Evaluator):
    primary_metric = "miou"

    def __init__(self, options=None) -> None:
        pass

    @torch.no_grad()
    def evaluate(self, model, batches, *, dataset, device="cpu", forward=None):
        model.eval()
        forward = forward or model
        n = dataset.num_classes
        cm = torch.zeros(n, n, dtype=torch.long)
        for x, y in batches:
            pred = forward(x.to(device)).argmax(1).cpu()
            cm += torch.bincount(y.flatten() * n + pred.flatten(), minlength=n * n).view(n, n)
        iou = cm.diag() / (cm.sum(0) + cm.sum(1) - cm.diag()).clamp_min(1)
        return EvaluationResult({"miou": float(iou.mean())})


@hookimpl
def gasnas_register_datasets(registry):
    registry.add("rectangles", Rectangles, options=RectanglesOptions, description="test rectangles")


@hookimpl
def gasnas_register_evaluators(registry):
    registry.add("test-miou", MeanIoU, description="test mIoU")


GAS_CONFIG = """\
seed: 0
threads: 1  # fixed: runs in separate processes (kill and resume tests) compute alike however busy the machine is
output: {output}
dataset: {{name: rectangles}}
space: {{name: gas, params: {{preset: gas-tiny, cells: 3, reductions: [1], nodes: 2, channels: 8,
                           stem_channels: [8, 8, 8], head_channels: 16}}}}
communicator: {{name: gcn}}
strategy: {{name: differentiable, params: {{warmup_epochs: 1, arch_lr: 0.01, top_k: 3, val_batches: 1,
                                          latency_loss: linear}}}}
latency: {{name: lut, params: {{repeats: 5, warmup: 1}}, measure: {{name: onnxruntime, params: {{repeats: 5, warmup: 1}}}}}}
evaluator: {{name: test-miou}}
budget: {{epochs: 3, batch_size: 8}}
"""
