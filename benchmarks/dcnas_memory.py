"""Peak memory and step time of a DCNAS supernet search step with the memory-saving sampling off and on.

A step is what the ``differentiable`` strategy runs with a softmax relaxation (every path and operation mixed): one
architecture step (gradients to the path and operation weights) plus one weight step. Each case runs in its own
process, so its peak memory (max RSS on CPU, max allocated on CUDA) is its own (also given above what was in use
before the first step: the step's own memory); a case that runs out of memory is
reported as such (the point of the sampling: it fits where the dense supernet does not). The ratios are measured
in one run.

    python benchmarks/dcnas_memory.py                                  # 256x512, batch 2, CPU (minutes)
    python benchmarks/dcnas_memory.py --device cuda --size 512x1024    # a GPU
    python benchmarks/dcnas_memory.py --quick                          # 64x128, 2 paper layers: a smoke run
    python benchmarks/dcnas_memory.py --memory-limit 8                 # each case within 8 GiB of address space

Cases: ``dcnas-tiny`` and ``dcnas-paper``'s widths (``--paper-layers`` of its 12 layers), each dense
(``sample_paths: 0, channel_fraction: 1``) and sampled (``--paths`` paths per cell, ``--fraction`` of the
channels).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def measure(params: dict, batch: int, size: tuple[int, int], steps: int, device: str) -> dict:
    import resource

    import torch

    from gasnas.options import parse_options
    from gasnas_plugins.spaces.dcnas.options import DcnasSpaceOptions
    from gasnas_plugins.spaces.dcnas.space import DcnasSearchSpace
    from search_step import search_step

    torch.manual_seed(0)
    space = DcnasSearchSpace(parse_options(DcnasSpaceOptions, params))
    supernet = space.build_supernet(19).to(device).train()
    step, _ = search_step(supernet, batch, size, device)

    cuda = device.startswith("cuda")
    params_m = sum(p.numel() for p in supernet.parameters()) / 1e6
    base = _current_mib(cuda)
    try:
        step()  # warm-up
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and "allocate memory" not in str(exc):  # the CPU allocator's refusal
            raise
        peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan")
        return {"oom": True, "peak_mib": peak, "base_mib": base, "params_m": params_m}
    times.sort()
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"oom": False, "step_s": times[len(times) // 2], "peak_mib": peak, "base_mib": base,
            "step_mib": peak - base, "params_m": params_m, "threads": torch.get_num_threads()}


def _current_mib(cuda: bool) -> float:
    """Memory in use before the first step: the model (and on the CPU, the interpreter and libraries)."""
    import os

    import torch

    if cuda:
        return torch.cuda.memory_allocated() / 2**20
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_case(params: dict, batch: int, size: tuple[int, int], steps: int, device: str,
             limit_gib: float | None = None) -> dict:
    """Run :func:`measure` in a fresh process (so peak memory is this case's own), its address space capped at
    ``limit_gib`` when given (on the CPU: a memory budget that a case exceeding it meets as "out of memory")."""
    cap = "" if limit_gib is None else \
        f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({int(limit_gib * 2**30)},) * 2); "
    code = (f"{cap}import json, sys; sys.path.insert(0, {repr(sys.path[0])}); from dcnas_memory import measure; "
            f"print(json.dumps(measure({params!r}, {batch}, {tuple(size)!r}, {steps}, {device!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:  # killed for memory on the CPU, or an error: say which
        return {"oom": out.returncode < 0, "error": out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def cases(paper_layers: int, paths: int, fraction: float) -> dict[str, dict[str, dict]]:
    paper = {"preset": "dcnas-paper", "layers": paper_layers}
    sampled = {"sample_paths": paths, "channel_fraction": fraction}
    dense = {"sample_paths": 0, "channel_fraction": 1.0}
    name = "dcnas-paper" if paper_layers == 12 else f"dcnas-paper widths, {paper_layers} layers"
    return {"dcnas-tiny": {"dense": {"preset": "dcnas-tiny", **dense}, "sampled": {"preset": "dcnas-tiny", **sampled}},
            name: {"dense": {**paper, **dense}, "sampled": {**paper, **sampled}}}


def _cell(r: dict) -> str:
    if r.get("oom"):
        return "out of memory"
    if "error" in r:
        return f"failed: {r['error'][0]}"
    return f"{r['step_s']:.3f} s, peak {r['peak_mib']:.0f} MiB ({r['step_mib']:.0f} MiB above the model)"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="256x512", help="HxW of the batch (default 256x512)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per case (after one warm-up)")
    parser.add_argument("--paper-layers", type=int, default=12, help="layers of the dcnas-paper case (12: its own)")
    parser.add_argument("--paths", type=int, default=4, help="sample_paths of the sampled cases")
    parser.add_argument("--fraction", type=float, default=0.25, help="channel_fraction of the sampled cases")
    parser.add_argument("--only", choices=["tiny", "paper"], help="run one of the two spaces")
    parser.add_argument("--memory-limit", type=float, metavar="GIB",
                        help="cap each case's address space (CPU): what does not fit is reported out of memory")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--quick", action="store_true", help="64x128, batch 1, 2 paper layers, 1 step: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.batch, args.paper_layers, args.steps = "64x128", 1, 2, 1
    size = tuple(int(v) for v in args.size.lower().split("x"))
    results: dict = {"device": args.device, "size": list(size), "batch": args.batch, "paths": args.paths,
                     "fraction": args.fraction, "memory_limit_gib": args.memory_limit, "spaces": {}}
    print(f"device {args.device}, {size[0]}x{size[1]}, batch {args.batch}; sampled: {args.paths} paths per cell, "
          f"channel fraction {args.fraction}", flush=True)
    for name, pair in cases(args.paper_layers, args.paths, args.fraction).items():
        if args.only and not name.startswith(f"dcnas-{args.only}"):
            continue
        dense, sampled = (run_case(pair[k], args.batch, size, args.steps, args.device, args.memory_limit)
                          for k in ("dense", "sampled"))
        entry = {"dense": dense, "sampled": sampled}
        line = f"{name}: dense {_cell(dense)}; sampled {_cell(sampled)}"
        if "step_s" in dense and "step_s" in sampled:
            entry["memory_ratio"] = sampled["peak_mib"] / dense["peak_mib"]
            entry["step_memory_ratio"] = sampled["step_mib"] / dense["step_mib"]
            entry["time_ratio"] = sampled["step_s"] / dense["step_s"]
            line += (f"; sampled / dense: peak memory {entry['memory_ratio']:.2f}x (the step's own "
                     f"{entry['step_memory_ratio']:.2f}x), step time {entry['time_ratio']:.2f}x")
        results["spaces"][name] = entry
        print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
