"""Throw-away components for testing the core: tiny, real, and registered only inside tests."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.utils.data import Dataset

from gasnas import hookimpl
from gasnas.api.dataset import SegmentationDataset
from gasnas.api.evaluator import EvaluationResult, Evaluator
from gasnas.api.space import SearchSpace
from gasnas.api.strategy import SearchStrategy
from gasnas.mutable import Categorical
from gasnas.options import option
from gasnas.registry import SAMPLING
from gasnas.run import SearchResult


class _Blobs(Dataset):
    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, 8, 8, generator=g)
        self.labels = (self.images[:, 0] > 0).long()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


@dataclass(frozen=True)
class BlobOptions:
    size: int = option(16, "images per split")


class Blobs(SegmentationDataset):
    num_classes = 2
    class_names = ("neg", "pos")
    palette = ((0, 0, 0), (255, 255, 255))

    def __init__(self, options: BlobOptions) -> None:
        self.options = options

    @property
    def input_size(self):
        return (8, 8)

    def split(self, name, *, train=False):
        return _Blobs(self.options.size, {"train": 0, "val": 1}[name])


class PixelAccuracy(Evaluator):
    primary_metric = "acc"

    def __init__(self, options=None) -> None:
        pass

    @torch.no_grad()
    def evaluate(self, model, batches, *, dataset, device="cpu", forward=None):
        model.eval()
        forward = forward or model
        hit = total = 0
        for x, y in batches:
            pred = forward(x).argmax(1)
            hit += int((pred == y).sum())
            total += y.numel()
        return EvaluationResult({"acc": hit / total})


class TinySpace(SearchSpace):
    def __init__(self, options=None) -> None:
        self._choices = {"op": Categorical(["conv1", "conv3"], label="op"),
                         "width": Categorical([2, 4], label="width")}

    def choices(self):
        return self._choices

    def build(self, sample, num_classes):
        self.validate(sample)
        k = 1 if sample["op"] == "conv1" else 3
        w = sample["width"]
        return nn.Sequential(nn.Conv2d(3, w, k, padding=k // 2), nn.ReLU(), nn.Conv2d(w, num_classes, 1))


@dataclass(frozen=True)
class RandomOptions:
    per_epoch: int = option(2, "architectures tried per epoch")
    fail_at_epoch: int | None = option(None, "raise KeyboardInterrupt after this epoch (tests a kill)")
    metric: Literal["acc"] = option("acc", "metric")


class RandomSearch(SearchStrategy):
    """Random search that trains each candidate for a few steps: enough to exercise the engine."""

    def search(self, ctx):
        resumed = ctx.resume()
        start, state = (resumed[0] + 1, resumed[1]) if resumed else (0, {"history": []})
        for epoch in range(start, ctx.budget.epochs):
            for _ in range(self.options.per_epoch):
                sample = ctx.space.random_sample(random)
                net = ctx.space.build(sample, ctx.num_classes)
                opt = torch.optim.SGD(net.parameters(), lr=0.1)
                for x, y in ctx.loader("train", train=True, epoch=epoch):
                    loss = nn.functional.cross_entropy(net(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    ctx.end_step({"ce": float(loss.detach())})
                score = ctx.evaluator.evaluate(net, ctx.loader("val", train=False), dataset=ctx.dataset).metrics["acc"]
                state["history"].append([sample, score + 1e-3 * torch.rand(()).item()])
            ctx.end_epoch(epoch, {"best": max(s for _, s in state["history"])}, state)
            if self.options.fail_at_epoch == epoch:
                raise KeyboardInterrupt
        ranked = sorted(state["history"], key=lambda h: -h[1])
        return SearchResult([ctx.architecture(s, score=v) for s, v in ranked[:3]], {"best": ranked[0][1]})


class ToyPlugin:
    """Registers the toy components (as an object plugin, like a third party could)."""

    @hookimpl
    def gasnas_register_datasets(self, registry):
        registry.add("blobs", Blobs, options=BlobOptions, description="random blobs")

    @hookimpl
    def gasnas_register_search_spaces(self, registry):
        registry.add("tiny", TinySpace, capabilities=[SAMPLING], description="two choices")

    @hookimpl
    def gasnas_register_strategies(self, registry):
        registry.add("random", RandomSearch, options=RandomOptions, requires=[SAMPLING])
        registry.add("needs-supernet", RandomSearch, options=RandomOptions, requires=["supernet"])

    @hookimpl
    def gasnas_register_evaluators(self, registry):
        registry.add("pixel-accuracy", PixelAccuracy)


TOY_CONFIG = """\
seed: 3
output: {output}
dataset: {{name: blobs, params: {{size: 16}}}}
space: {{name: tiny}}
strategy: {{name: random, params: {{per_epoch: 2}}}}
evaluator: {{name: pixel-accuracy}}
budget: {{epochs: 3, batch_size: 4}}
"""
