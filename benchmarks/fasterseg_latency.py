"""Coupled against decoupled latency regularisation on fasterseg-tiny: which derives the better network?

FasterSeg's claim (its "architecture collapse" fix): one latency term relaxing every choice at once drives the
search to cheap, inaccurate networks (skips everywhere); computing the expected latency once per decision
granularity -- operations, paths, widths -- each relaxing only its own choices, weighted 1/500, 497/500, 2/500,
does not. This runs both forms of the differentiable strategy on ``examples/configs/fasterseg-tiny.yaml`` with
the same total weight (``--beta``; the decoupled weights sum to 1), the same latency loss (``--loss``), the same
controller (the weight doubled after an epoch whose derived network is above ``--band`` x the target, halved
below) and an argmax derivation (FasterSeg's), for every ``--search-seeds``; then retrains each derived network
with the repository's short recipe (``retraining.RECIPE``, ``--seeds`` seeds, ``--epochs`` epochs) and times it
end to end (ONNX Runtime, one thread; ``--no-measure`` skips it).

It passes when, averaged over the search seeds, the decoupled form's networks hold fewer skip operations and
retrain to a higher val mIoU than the coupled form's, and every decoupled network's estimated latency lies in
the band.

    python benchmarks/fasterseg_latency.py [--out runs/fasterseg-latency] [--search-seeds 0 1 2] [--seeds 2]
        [--beta 0.1] [--loss linear] [--band 0.9 1.1] [--epochs 24] [--workers 2] [--set KEY=VALUE ...]
        [--no-measure] [--json FILE]

Searches and trainings run on one thread each, ``--workers`` at a time; a rerun with the same ``--out`` reuses
what finished. Measure on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from retraining import EPOCHS, Network, SearchRun, measure, retrain_all
from search_quality import search

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "configs" / "fasterseg-tiny.yaml"
FORMS = ("coupled", "decoupled")


def overrides(form: str, seed: int, args: argparse.Namespace) -> list[str]:
    """One search's config overrides: the form, the common latency term and controller, the seed."""
    low, high = args.band
    return [*args.overrides, f"seed={seed}", f"strategy.params.latency_granularity={form}",
            f"strategy.params.latency_loss={args.loss}", f"strategy.params.beta={args.beta}",
            "strategy.params.derivation=argmax",
            f"strategy.params.latency_controller={{band: [{low}, {high}], relative: true}}"]


def skips(run: SearchRun, sample: dict[str, Any]) -> int:
    """Skip operations among the cells the network holds."""
    return sum(v == "skip" for k, v in run.space.canonical(sample).items() if k.endswith("/op"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="an override for every search")
    parser.add_argument("--out", type=Path, default=Path("runs/fasterseg-latency"))
    parser.add_argument("--search-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seeds", type=int, default=2, help="retraining seeds per network")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="retraining epochs")
    parser.add_argument("--beta", type=float, default=0.1, help="the latency weight, the same for both forms")
    parser.add_argument("--loss", default="linear", choices=["linear", "log_ratio", "hinge", "absolute"])
    parser.add_argument("--band", type=float, nargs=2, default=[0.9, 1.1],
                        help="the controller's band, in fractions of the latency target")
    parser.add_argument("--workers", type=int, default=2, help="searches / trainings at a time (one thread each)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the latency measurement")
    parser.add_argument("--no-measure", action="store_true", help="skip the end-to-end timing")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "log.txt"
    seeds = list(range(args.seeds))
    started = time.perf_counter()
    print(f"fasterseg latency: coupled vs decoupled, search seeds {args.search_seeds}, {args.seeds} retraining "
          f"seeds; log {log}", flush=True)

    jobs = {f"{form}-s{seed}": overrides(form, seed, args) for seed in args.search_seeds for form in FORMS}
    with ThreadPoolExecutor(args.workers) as pool:
        futures = {name: pool.submit(search, args.config, args.out, name, o, log) for name, o in jobs.items()}
        runs = {name: future.result() for name, future in futures.items()}

    folder = args.out / "architectures"
    folder.mkdir(exist_ok=True)
    networks: dict[str, Network] = {}
    for name, (run, seconds) in runs.items():
        n = Network(name, name.split("-")[0], dict(run.best.sample), run.estimate(run.best.sample), name,
                    target=float(run.best.metadata["latency_target"]))
        run.architecture_file(n, folder)
        networks[name] = n
        print(f"  search {name}: {seconds:.0f} s, {run.space.describe(n.sample)}", flush=True)
    print(f"retraining {len(networks)} networks x {len(seeds)} seeds", flush=True)
    retrain_all(list(networks.values()), seeds, args.out / "trains", log, args.workers, args.epochs)
    first = next(iter(runs.values()))[0]
    if not args.no_measure:
        print("measuring latencies", flush=True)
        measure(list(networks.values()), first, args.rounds)

    unit = first.estimator.unit
    low, high = args.band
    rows, report = [], {"seeds": seeds, "search_seeds": args.search_seeds, "beta": args.beta, "loss": args.loss,
                        "band": args.band, "networks": {}}
    print(f"\n| search | est. {unit} | target | in band | measured ms | skips | mean val mIoU | "
          + " | ".join(f"seed {s}" for s in seeds) + " |\n|---|---|---|---|---|---|---|" + "---|" * len(seeds))
    for name, n in networks.items():
        run = runs[name][0]
        in_band = low * n.target <= n.estimated <= high * n.target
        count = skips(run, n.sample)
        measured = f"{n.measured:.3f}" if n.measured is not None else "-"
        per_seed = " | ".join(f"{n.miou[s]:.3f}" for s in seeds)
        print(f"| {name} | {n.estimated:.4g} | {n.target:.4g} | {'yes' if in_band else 'NO'} | {measured} | {count} "
              f"| {n.mean:.3f} | {per_seed} |")
        rows.append((n.kind, count, n.mean, in_band))
        report["networks"][name] = {"estimated": n.estimated, "target": n.target, "in_band": in_band,
                                    "measured_ms": n.measured, "skips": count, "miou": n.miou, "mean_miou": n.mean,
                                    "sample": n.sample}

    def mean(form: str, column: int) -> float:
        return statistics.fmean(r[column] for r in rows if r[0] == form)

    checks = {"fewer skips": mean("decoupled", 1) < mean("coupled", 1),
              "higher val mIoU": mean("decoupled", 2) > mean("coupled", 2),
              "decoupled in band": all(r[3] for r in rows if r[0] == "decoupled")}
    report.update(checks=checks, passed=all(checks.values()))
    print(f"\nmean skips: coupled {mean('coupled', 1):.2f}, decoupled {mean('decoupled', 1):.2f}; mean val mIoU: "
          f"coupled {mean('coupled', 2):.3f}, decoupled {mean('decoupled', 2):.3f}")
    print(f"verdict: {'PASS' if report['passed'] else 'FAIL'} -- "
          + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items()))
    print(f"\ntotal {time.perf_counter() - started:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
