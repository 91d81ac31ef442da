"""Three search spaces on one task: the gas-tiny, dcnas-tiny and fasterseg-tiny searches side by side.

Each space's example config searches digit-scenes as shipped (``examples/configs/quickstart.yaml``,
``dcnas-tiny.yaml``, ``fasterseg-tiny.yaml``: their own strategies' settings, budgets and latency sections); the
derived network is then retrained from scratch with the short recipe every search benchmark uses
(``retraining.RECIPE``, ``--seeds`` seeds), timed end to end (ONNX Runtime, one thread, interleaved rounds, after
all training has finished) and its parameters counted. The table gives, per space: the retrained val mIoU (mean
and per seed), the measured latency, the parameters and the search's wall time.

    python benchmarks/space_comparison.py [--out runs/space-comparison] [--seeds 0 1] [--workers 2]
        [--spaces gas dcnas fasterseg] [--json FILE]

Everything runs on one thread: the searches one after another (so their wall times compare), the trainings
``--workers`` at a time. A rerun with the same ``--out`` reuses what finished. About 45 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from retraining import Network, SearchRun, measure, retrain_all
from search_quality import search

#: the spaces compared: their example configs
CONFIGS = {
    "gas": "examples/configs/quickstart.yaml",
    "dcnas": "examples/configs/dcnas-tiny.yaml",
    "fasterseg": "examples/configs/fasterseg-tiny.yaml",
}


def parameters(run: SearchRun) -> int:
    """The derived network's parameter count (as trained: built by its space for the run's classes)."""
    model = run.space.build(run.best.sample, run.num_classes)
    return sum(p.numel() for p in model.parameters())


def table(rows: list[dict[str, Any]], seeds: list[int]) -> str:
    lines = ["| space | config | mean val mIoU | " + " | ".join(f"seed {s}" for s in seeds)
             + " | measured ms | params (k) | search time |", "|---|---|---|" + "---|" * len(seeds) + "---|---|---|"]
    for r in rows:
        per_seed = " | ".join(f"{r['miou'][str(s)]:.3f}" for s in seeds)
        lines.append(f"| {r['space']} | `{r['config']}` | {r['mean_miou']:.3f} | {per_seed} | "
                     f"{r['measured_ms']:.3f} | {r['params'] / 1e3:.1f} | {r['search_s'] / 60:.1f} min |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/space-comparison"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="retraining seeds")
    parser.add_argument("--workers", type=int, default=2, help="trainings at a time (one thread each)")
    parser.add_argument("--spaces", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "log.txt"
    start = time.perf_counter()

    print(f"searching {', '.join(args.spaces)} one after another (log: {log})", flush=True)
    searched = [search(CONFIGS[s], args.out, s, [], log) for s in args.spaces]
    networks = []
    for space, (run, _) in zip(args.spaces, searched):
        network = Network(space, "searched", dict(run.best.sample), run.estimate(run.best.sample), space)
        run.architecture_file(network, args.out / "architectures")
        networks.append(network)

    print(f"retraining {len(networks)} networks x {len(args.seeds)} seeds", flush=True)
    retrain_all(networks, args.seeds, args.out / "trainings", log, args.workers)
    for network, (run, _) in zip(networks, searched):  # alone on the machine: after every training
        measure([network], run)

    rows = []
    for space, network, (run, seconds) in zip(args.spaces, networks, searched):
        rows.append({"space": space, "config": CONFIGS[space], "mean_miou": network.mean,
                     "miou": {str(s): network.miou[s] for s in args.seeds}, "measured_ms": network.measured,
                     "estimated": network.estimated, "estimator": run.config.latency.name,
                     "params": parameters(run), "search_s": seconds, "architecture": str(network.arch_file)})
    print(table(rows, args.seeds))
    print(f"total {(time.perf_counter() - start) / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps({"seeds": args.seeds, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
