"""Training throughput (images/s) on digit-scenes for a small network, and the share of time spent loading data.

    python benchmarks/train_throughput.py [TARGET] [--batch-size 16] [--steps 20] [--threads 2] [--json out.json]

TARGET is a registered model or an architecture file; the default is the ``gas`` space's (gas-tiny preset)
default architecture. Prints images/s of full training steps (forward, loss, backward, SGD step) on the default
128 x 256 scenes, of the same steps on batches already in memory, and their ratio (the data pipeline's cost),
all measured in this one run. Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from gasnas.api.model import segmentation_loss
from gasnas.architecture import Architecture
from gasnas.options import parse_options
from gasnas.plugins import PluginManager
from gasnas_plugins.datasets.digit_scenes import DigitScenes
from gasnas_plugins.training.network import resolve_target
from gasnas_plugins.training.optim import build_optimizer
from gasnas_plugins.training.trainer import make_loader


def default_target(pm: PluginManager) -> str:
    """An architecture file of the gas-tiny space's default sample."""
    comp = pm.registry("search spaces").get("gas")
    space = comp.build(parse_options(comp.options, {"preset": "gas-tiny"}))
    path = Path(tempfile.mkdtemp()) / "gas-tiny-default.yaml"
    return str(Architecture(space.default_sample(), "gas", {"preset": "gas-tiny"}).save(path))


def timed_steps(model, batches, steps: int, optimizer, criterion) -> float:
    """Seconds for ``steps`` training steps over ``batches`` (after 2 untimed ones)."""
    it = iter(batches)
    start = None
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        images, labels = next(it)
        loss, _ = segmentation_loss(model, model(images), labels, criterion)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pm = PluginManager()
    target = args.target or default_target(pm)
    spec = resolve_target(target, pm)
    dataset = DigitScenes()
    model = spec.build(dataset.num_classes, pm).train()
    optimizer = build_optimizer(model, "sgd", lr=0.01, momentum=0.9, weight_decay=5e-4)
    criterion = torch.nn.CrossEntropyLoss(ignore_index=dataset.ignore_index)
    data = dataset.split("train", train=True)
    loader = make_loader(data, batch_size=args.batch_size, train=True, seed=0)
    n = args.steps
    full = timed_steps(model, loader, n, optimizer, criterion)
    cached = [next(iter(loader))] * (n + 2)
    compute = timed_steps(model, cached, n, optimizer, criterion)
    images = n * args.batch_size
    print(f"network: {spec.describe()} ({sum(p.numel() for p in model.parameters()) / 1e6:.3f} M parameters)")
    print(f"digit-scenes train, {dataset.input_size[0]} x {dataset.input_size[1]}, batch {args.batch_size}, "
          f"{n} steps, {args.threads} threads, CPU, torch {torch.__version__}")
    print(f"training with data loading : {images / full:8.1f} images/s")
    print(f"training on cached batches : {images / compute:8.1f} images/s")
    print(f"ratio (loading overhead)   : {full / compute:8.3f}x")
    if args.json:
        args.json.write_text(json.dumps({"network": spec.describe(), "batch_size": args.batch_size, "steps": n,
                                         "threads": args.threads, "images_per_s": images / full,
                                         "images_per_s_cached": images / compute, "ratio": full / compute},
                                        indent=2))


if __name__ == "__main__":
    main()
