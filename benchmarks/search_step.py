"""Supernet search-step throughput and peak memory of the differentiable strategy on the ``gas`` space, softmax
relaxation (every candidate of every edge mixed; ``search_profile.py`` profiles the quickstart's sampled step).

A search step is one architecture step (CE + latency term, gradients to the architecture only) plus one weight
step (CE, gradients to the weights), as the ``differentiable`` strategy runs them. Each configuration runs in
its own process so that its peak memory (max RSS on CPU, max allocated on CUDA) is its own.

    python benchmarks/search_step.py [--device cpu] [--json out.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CASES = {
    # name: (space params, batch, (h, w), steps)
    "gas-tiny at the quickstart's 64x128 (digit-scenes at resize 0.5), batch 16": ({}, 16, (64, 128), 6),
    "gas-tiny at digit-scenes size 128x256, batch 16": ({}, 16, (128, 256), 4),
    "cityscapes crop (gas-paper, 512x1024, batch 2)": ({"preset": "gas-paper"}, 2, (512, 1024), 2),
}
CELLS = [3, 5, 8, 12]
SIZES = [(64, 128), (128, 256), (256, 512)]


def search_step(supernet, batch: int, size: tuple[int, int], device: str = "cpu", *, model=None, sync=None,
                optimizer=None):
    """The ``differentiable`` strategy's search step on ``supernet``, on a fixed random batch with 19-way labels:
    an architecture step (softmax mixing, gradients to the architecture only, averaged across ranks by ``sync``
    when given) then a weight step through ``model`` (default: the supernet itself; a distributed wrapper of it),
    by ``optimizer`` (a factory of the weights' optimizer; default SGD with momentum). Returns the step and the
    architecture parameters. The gas, dcnas and distributed benchmarks share it."""
    import torch
    import torch.nn.functional as F

    alphas = {c.key: torch.zeros(len(c.candidates), device=device, requires_grad=True)
              for c in supernet.relaxed_choices()}
    opt = (optimizer or (lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)))(supernet.parameters())
    arch_opt = torch.optim.Adam(alphas.values(), lr=3e-4)
    x = torch.randn(batch, 3, *size, device=device)
    y = torch.randint(0, 19, (batch, *size), device=device)
    model = model or supernet

    def step() -> None:
        mixing = {k: F.softmax(v, dim=0) for k, v in alphas.items()}
        arch_opt.zero_grad()
        F.cross_entropy(supernet(x, mixing), y).backward(inputs=list(alphas.values()))
        if sync is not None:
            sync([a.grad for a in alphas.values()])
        arch_opt.step()
        mixing = {k: v.detach() for k, v in mixing.items()}
        opt.zero_grad()
        F.cross_entropy(model(x, mixing), y).backward()
        opt.step()

    return step, alphas


def measure(params: dict, batch: int, size: tuple[int, int], steps: int, device: str) -> dict:
    import resource

    import torch

    from gasnas.options import parse_options
    from gasnas_plugins.spaces.gas.options import GasSpaceOptions
    from gasnas_plugins.spaces.gas.space import GasSearchSpace

    torch.manual_seed(0)
    space = GasSearchSpace(parse_options(GasSpaceOptions, params))
    step, alphas = search_step(space.build_supernet(19).to(device), batch, size, device)

    step()  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"step_s": median, "images_per_s": batch / median, "peak_mib": peak, "threads": torch.get_num_threads(),
            "edges": len(alphas)}


def run_case(params: dict, batch: int, size: tuple[int, int], steps: int, device: str) -> dict:
    """Run :func:`measure` in a fresh process (so peak memory is this case's own)."""
    code = (f"import json, sys; sys.path.insert(0, {repr(sys.path[0])}); from search_step import measure; "
            f"print(json.dumps(measure({params!r}, {batch}, {tuple(size)!r}, {steps}, {device!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--quick", action="store_true", help="skip the Cityscapes crop and the largest cases")
    args = parser.parse_args()
    results: dict = {"device": args.device, "cases": {}, "cells": {}, "sizes": {}}
    print(f"device: {args.device}")
    for name, (params, batch, size, steps) in CASES.items():
        if args.quick and "cityscapes" in name:
            continue
        r = run_case(params, batch, size, steps, args.device)
        results["cases"][name] = r
        print(f"{name}: {r['images_per_s']:.2f} images/s, step {r['step_s']:.3f} s, peak {r['peak_mib']:.0f} MiB, "
              f"{r['threads']} threads")
    base = None
    for cells in CELLS:
        reductions = [cells // 2]
        r = run_case({"cells": cells, "reductions": reductions}, 16, (64, 128), 4, args.device)
        base = base or r["step_s"]
        results["cells"][cells] = r
        print(f"L={cells:2d} cells: step {r['step_s']:.3f} s  ({r['step_s'] / base:.2f}x L=3)")
    base = None
    for size in SIZES[:2] if args.quick else SIZES:
        r = run_case({}, 8, size, 3, args.device)
        base = base or r["step_s"]
        results["sizes"][f"{size[0]}x{size[1]}"] = r
        print(f"{size[0]}x{size[1]}: step {r['step_s']:.3f} s  ({r['step_s'] / base:.2f}x 64x128; pixels "
              f"{size[0] * size[1] / (64 * 128):.0f}x), peak {r['peak_mib']:.0f} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
