"""Three search spaces on one task: the gas-tiny, dcnas-tiny and fasterseg-tiny searches side by side.

Each space's example config searches digit-scenes (``examples/configs/quickstart.yaml``, ``dcnas-tiny.yaml``,
``fasterseg-tiny.yaml``: their own strategies' settings and budgets) at one latency target: the gas search's
(the quickstart's: the median estimated latency of random gas-tiny architectures), which the other spaces take as
an absolute target with the quickstart's latency section (the ``lut`` table of this machine; ``--own-targets``
keeps each config's own latency section instead). The derived network is then retrained from scratch with the short recipe every search benchmark uses
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

import yaml
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


def search_seconds(run: SearchRun) -> float:
    """The search's wall time from its epochs' ``elapsed_s`` (each resumed part counts from zero again: the parts
    are added, so an interrupted and resumed search counts its epochs once)."""
    elapsed = [json.loads(line)["elapsed_s"] for line in (run.path / "metrics.jsonl").read_text().splitlines()
               if line.strip()]
    return sum(a for a, b in zip(elapsed, [*elapsed[1:], 0.0]) if b < a)


def target_of(run: SearchRun) -> float:
    """The latency target the gas search resolved (its estimator's unit: ms for the quickstart's ``lut``)."""
    return float(run.best.metadata["latency_target"])


def latency_at(target: float) -> list[str]:
    """Overrides giving a search the quickstart's latency section with ``target`` as its absolute target."""
    section = yaml.safe_load(Path(CONFIGS["gas"]).read_text())["latency"]
    section.pop("target_relative", None)
    section["target"] = round(target, 4)
    return [f"latency={json.dumps(section)}"]


def table(rows: list[dict[str, Any]], seeds: list[int]) -> str:
    lines = ["| space | config | mean val mIoU | " + " | ".join(f"seed {s}" for s in seeds)
             + " | target | estimated | measured ms | params (k) | search time |",
             "|---|---|---|" + "---|" * len(seeds) + "---|---|---|---|---|"]
    for r in rows:
        per_seed = " | ".join(f"{r['miou'][str(s)]:.3f}" for s in seeds)
        target = "-" if r["target"] is None else f"{r['target']:.3f}"
        lines.append(f"| {r['space']} | `{r['config']}` | {r['mean_miou']:.3f} | {per_seed} | {target} | "
                     f"{r['estimated']:.3f} ({r['estimator']}) | {r['measured_ms']:.3f} | {r['params'] / 1e3:.1f} | "
                     f"{r['search_s'] / 60:.1f} min |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/space-comparison"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="retraining seeds")
    parser.add_argument("--workers", type=int, default=2, help="trainings at a time (one thread each)")
    parser.add_argument("--spaces", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--own-targets", action="store_true",
                        help="each config's own latency section (not the gas search's target for every space)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "log.txt"
    start = time.perf_counter()

    spaces = sorted(args.spaces, key=lambda s: s != "gas")  # gas first: its search sets the target
    print(f"searching {', '.join(spaces)} one after another (log: {log})", flush=True)
    gas = search(CONFIGS["gas"], args.out, "gas", [], log) if "gas" in spaces or not args.own_targets else None
    target = None if args.own_targets else target_of(gas[0])
    searched = ([gas] if "gas" in spaces else []) + [
        search(CONFIGS[s], args.out, s, [] if target is None else latency_at(target), log)
        for s in spaces if s != "gas"]
    networks = []
    for space, (run, _) in zip(spaces, searched):
        network = Network(space, "searched", dict(run.best.sample), run.estimate(run.best.sample), space)
        run.architecture_file(network, args.out / "architectures")
        networks.append(network)

    print(f"retraining {len(networks)} networks x {len(args.seeds)} seeds", flush=True)
    retrain_all(networks, args.seeds, args.out / "trainings", log, args.workers)
    for network, (run, _) in zip(networks, searched):  # alone on the machine: after every training
        measure([network], run)

    rows = []
    for space, network, (run, _) in zip(spaces, networks, searched):
        rows.append({"space": space, "config": CONFIGS[space], "mean_miou": network.mean,
                     "miou": {str(s): network.miou[s] for s in args.seeds}, "measured_ms": network.measured,
                     "estimated": network.estimated, "estimator": run.config.latency.name,
                     "target": run.best.metadata.get("latency_target"),
                     "params": parameters(run), "search_s": search_seconds(run), "architecture": str(network.arch_file)})
    print(table(rows, args.seeds))
    print(f"total {(time.perf_counter() - start) / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps({"seeds": args.seeds, "target": target, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
