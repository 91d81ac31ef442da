"""Search-step throughput with 1 and with N gloo processes on this machine, at the same global batch and cores.

A search step is what the ``differentiable`` strategy runs under torchrun: an architecture step through the
supernet (its gradients all-reduced over the ranks by hand) and a weight step through ``DistributedDataParallel``,
with batch norm over the global batch (gasnas' ``GlobalBatchNorm`` on CPU). One process computes the global
batch with all ``--threads``; N processes (started as torchrun would, on this machine) each compute
``batch / N`` images with ``threads / N`` threads. The ratio is N-process images/s over 1-process images/s,
measured in one run.

    python benchmarks/distributed_step.py [--processes 2] [--threads 2] [--batch 8] [--json out.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import time
from pathlib import Path

SIZE = (64, 128)  # the quickstart's search input (digit-scenes at resize 0.5)


def _rank(rank: int, world: int, port: int, batch: int, threads: int, steps: int, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    import torch

    from gasnas.distributed import setup, shutdown
    from gasnas.options import parse_options
    from gasnas_plugins.spaces.gas.options import GasSpaceOptions
    from gasnas_plugins.spaces.gas.space import GasSearchSpace
    from search_step import search_step

    torch.set_num_threads(threads)
    dist = setup()
    torch.manual_seed(0)
    supernet = GasSearchSpace(parse_options(GasSpaceOptions, {})).build_supernet(19)
    step, _ = search_step(supernet, batch, SIZE, model=dist.wrap(supernet), sync=dist.all_reduce_mean,
                          optimizer=lambda p: torch.optim.AdamW(p, lr=3e-3))

    step()  # warm-up
    times = []
    for _ in range(steps):
        dist.barrier()
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    if dist.is_main:
        times.sort()
        Path(out).write_text(json.dumps({"step_s": times[len(times) // 2]}))
    shutdown()


def measure(processes: int, batch: int, threads: int, steps: int) -> dict:
    """The median search step of ``processes`` ranks at the global batch ``batch`` with ``threads`` in all."""
    if batch % processes or threads % processes:
        raise SystemExit(f"--batch {batch} and --threads {threads} must divide by {processes} processes")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = Path(f"/tmp/gasnas-distributed-step-{os.getpid()}-{processes}.json")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_rank, args=(r, processes, port, batch // processes, threads // processes, steps,
                                             str(out))) for r in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode for p in procs):
        raise SystemExit(f"a rank failed: exit codes {[p.exitcode for p in procs]}")
    step_s = json.loads(out.read_text())["step_s"]
    out.unlink()
    return {"processes": processes, "batch_per_process": batch // processes, "threads_per_process":
            threads // processes, "step_s": step_s, "images_per_s": batch / step_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads in all (split over the processes)")
    parser.add_argument("--batch", type=int, default=8, help="the global batch")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="batch 4, 2 steps: a dry run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"  # each rank sets its own count
    batch, steps = (4, 2) if args.quick else (args.batch, args.steps)
    rows = [measure(n, batch, args.threads, steps) for n in (1, args.processes)]
    ratio = rows[1]["images_per_s"] / rows[0]["images_per_s"]
    print(f"gas-tiny search step at {SIZE[0]}x{SIZE[1]}, global batch {batch}, {args.threads} threads in all")
    print(f"{'processes':>9}  {'batch/process':>13}  {'threads/process':>15}  {'step s':>8}  {'images/s':>8}")
    for r in rows:
        print(f"{r['processes']:>9}  {r['batch_per_process']:>13}  {r['threads_per_process']:>15}  "
              f"{r['step_s']:>8.3f}  {r['images_per_s']:>8.1f}")
    print(f"throughput ratio {args.processes} processes / 1 process: {ratio:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
