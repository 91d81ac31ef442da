"""Does the search find networks worth deploying? The searched network against random ones at equal latency.

For each strategy setting -- the default search (the quickstart: differentiable, GCN), the same without the
GCN, and the evolution strategy -- this runs the search, then retrains from scratch with one short recipe
(``retraining.RECIPE``, ``--seeds`` seeds each):

- the searched architecture;
- ``all-conv`` and ``all-skip``: the searched cells' wiring with every operation a 3x3 convolution, or a skip
  connection;
- ``--randoms`` random architectures whose estimated latency (the search's own estimator) lies within
  +-``--tolerance`` of the searched one's (drawn until enough are found).

Every network is then timed end to end (ONNX Runtime, one thread, interleaved rounds, after all training has
finished) and each setting gets a verdict. It passes when the searched network's mean val mIoU beats the median
of the random ones by at least twice the seed-to-seed standard error, beats all-skip, at most a third of its
operations are skip connections, and no retrained network is both faster (measured) and more accurate.

Target adherence: the default search with the latency target at ``--targets`` (fractions of the median latency
of random architectures: across the space's range); each derived network's measured latency must lie within
+-10% of its target.

    python benchmarks/search_quality.py [--out runs/search-quality] [--seeds 3] [--randoms 8] [--workers 2]
        [--settings gcn none evolution] [--targets 0.8 1.0 1.2] [--set KEY=VALUE ...] [--json FILE]
        [--executor ray [--ray-address ADDRESS]]

Searches and trainings run on one thread each, ``--workers`` at a time; with ``--executor ray`` the retrainings
are Ray tasks instead (one CPU each; a local Ray, or the cluster at ``--ray-address``, whose nodes see ``--out``
and this folder at the same paths), with the same results. A rerun with the same ``--out`` reuses what
finished. The whole run takes a few hours on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from retraining import CONV, RANDOM_SEED, SKIP, Network, SearchRun, gasnas, measure, retrain_all, seed_se, table

#: strategy settings: overrides of the default (quickstart) config
SETTINGS: dict[str, list[str]] = {
    "gcn": [],
    "none": ["communicator.name=none"],
    "evolution": ["strategy={name: evolution}"],
}


def search(config: str, out: Path, name: str, overrides: list[str], log: Path) -> tuple[SearchRun, float]:
    """Run (or reuse) one search; returns its run and wall time."""
    path = out / "searches" / name
    if (path / "architecture.yaml").is_file():
        seconds = json.loads((path / "summary.json").read_text())["metrics"].get("search_time_s", float("nan"))
    elif (path / "checkpoint.pt").is_file():  # interrupted: continue it
        seconds = gasnas(["search", "--resume", str(path)], log)
    else:
        sets = [a for o in overrides for a in ("--set", o)]
        seconds = gasnas(["search", config, "--output", str(out / "searches"), "--name", name, *sets], log)
    return SearchRun.load(path), seconds


def networks_for(setting: str, run: SearchRun, randoms: int, tolerance: float, seed: int) -> list[Network]:
    """The searched network, its all-conv and all-skip versions, and ``randoms`` random architectures near its
    estimated latency. Every setting draws from one seeded stream, so settings whose searched networks have
    similar latencies share random architectures (and their trainings)."""
    searched = Network(f"{setting}: searched", "searched", dict(run.best.sample), run.estimate(run.best.sample),
                       setting)
    out = [searched]
    for kind, op in (("all-conv", CONV), ("all-skip", SKIP)):
        sample = run.with_ops(op)
        out.append(Network(f"{setting}: {kind}", kind, sample, run.estimate(sample), setting))
    found, drawn = run.randoms_near(searched.estimated, randoms, tolerance, seed)
    print(f"  {setting}: {len(found)} random architectures within +-{tolerance:.0%} of the searched "
          f"{searched.estimated:.3f} {run.estimator.unit} ({drawn} drawn)", flush=True)
    randoms_ = [Network(f"{setting}: random {i + 1}", "random", s, run.estimate(s), setting) for i, s in enumerate(found)]
    return out + sorted(randoms_, key=lambda n: n.estimated)


def verdict(networks: list[Network]) -> dict[str, Any]:
    """The four checks of the module docstring."""
    searched = next(n for n in networks if n.kind == "searched")
    skip = next(n for n in networks if n.kind == "all-skip")
    randoms = [n for n in networks if n.kind == "random"]
    se = seed_se(networks)
    median = statistics.median(n.mean for n in randoms) if randoms else float("nan")
    dominating = [n.name for n in networks if n is not searched and None not in (n.measured, searched.measured)
                  and n.measured < searched.measured and n.mean > searched.mean]
    checks = {
        "beats the random median by 2 SE": searched.mean >= median + 2 * se,
        "beats all-skip": searched.mean > skip.mean,
        "at most a third skip connections": searched.share(SKIP) <= 1 / 3 + 1e-9,
        "no network both faster and more accurate": not dominating,
    }
    return {"passed": all(checks.values()), "checks": checks, "searched": searched.mean, "random_median": median,
            "seed_se": se, "margin": searched.mean - median, "dominated_by": dominating}


def networks_of(runs: dict[str, SearchRun], randoms: int, tolerance: float,
                folder: Path) -> dict[str, list[Network]]:
    """:func:`networks_for` each setting's search run, their architecture files written to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = {}
    for setting, run in runs.items():
        rows[setting] = networks_for(setting, run, randoms, tolerance, seed=RANDOM_SEED)
        for n in rows[setting]:
            run.architecture_file(n, folder)
    return rows


def judge(setting: str, seconds: float, networks: list[Network], seeds: list[int]) -> dict[str, Any]:
    """The :func:`verdict` on one setting's retrained and measured networks, printed with their table; returns
    it with the networks' figures (for the JSON report)."""
    result = verdict(networks)
    print(f"\n### {setting} (search {seconds:.0f} s)\n\n{table(networks, seeds)}\n", flush=True)
    print(f"verdict: {'PASS' if result['passed'] else 'FAIL'} -- searched {result['searched']:.3f}, random "
          f"median {result['random_median']:.3f} ({result['margin']:+.3f}; 2 SE = {2 * result['seed_se']:.3f}); "
          + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in result["checks"].items()), flush=True)
    return {"verdict": result, "networks": [
        {"name": n.name, "kind": n.kind, "estimated_ms": n.estimated, "measured_ms": n.measured, "miou": n.miou,
         "mean_miou": n.mean, "skip_share": n.share(SKIP), "sample": n.sample} for n in networks]}


def ray_executor(address: str | None) -> Any:
    """The registered ``ray`` executor (the ``ray`` extra), one CPU per retraining."""
    from gasnas.api import get_plugin_manager, parse_options

    component = get_plugin_manager().registry("executors").get("ray")
    return component.build(parse_options(component.options, {"address": address, "num_cpus": 1}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="search config (default: the packaged quickstart)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="an override for every search")
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--out", type=Path, default=Path("runs/search-quality"))
    parser.add_argument("--seeds", type=int, default=3, help="retraining seeds per network")
    parser.add_argument("--randoms", type=int, default=8, help="random architectures per setting")
    parser.add_argument("--tolerance", type=float, default=0.05, help="the random architectures' latency window")
    parser.add_argument("--workers", type=int, default=2, help="searches / trainings at a time (one thread each)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the latency measurement")
    parser.add_argument("--targets", type=float, nargs="*", default=[0.8, 1.0, 1.2],
                        help="relative latency targets of the adherence check (none: skip it)")
    parser.add_argument("--search-seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--executor", choices=["threads", "ray"], default="threads",
                        help="what runs the retrainings: --workers threads here, or Ray tasks")
    parser.add_argument("--ray-address", help="the Ray cluster (default: a local Ray; 'auto': the one ray start runs)")
    args = parser.parse_args()
    from gasnas.config import default_config_path, load_config

    config = args.config or str(default_config_path())
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "log.txt"
    seeds = list(range(args.seeds))
    started = time.perf_counter()
    print(f"search quality: {', '.join(args.settings)}; targets {args.targets}; {args.seeds} seeds; log {log}",
          flush=True)

    jobs = {s: [*args.overrides, f"seed={args.search_seed}", *SETTINGS[s]] for s in args.settings}
    default_target = load_config(config).latency.target_relative
    aliases = {f"target-{t:g}": "gcn" for t in args.targets if t == default_target and "gcn" in jobs}
    jobs.update({f"target-{t:g}": [*args.overrides, f"seed={args.search_seed}", f"latency.target_relative={t}"]
                 for t in args.targets if f"target-{t:g}" not in aliases})
    with ThreadPoolExecutor(args.workers) as pool:
        futures = {name: pool.submit(search, config, args.out, name, overrides, log) for name, overrides in jobs.items()}
        runs = {name: future.result() for name, future in futures.items()}
    runs.update({alias: runs[name] for alias, name in aliases.items()})  # the default search is the default target
    for name, (_, seconds) in runs.items():
        print(f"  search {name}: {seconds:.0f} s", flush=True)

    folder = args.out / "architectures"
    rows = networks_of({s: runs[s][0] for s in args.settings}, args.randoms, args.tolerance, folder)
    targets = []
    for t in args.targets:
        run = runs[f"target-{t:g}"][0]
        n = Network(f"target {t:g}", "target", dict(run.best.sample), run.estimate(run.best.sample), "targets",
                    target=float(run.best.metadata["latency_target"]))
        run.architecture_file(n, folder)
        targets.append(n)

    trained = [n for r in rows.values() for n in r]
    print(f"retraining {len({n.arch_file for n in trained})} networks x {len(seeds)} seeds", flush=True)
    with ray_executor(args.ray_address) if args.executor == "ray" else nullcontext() as executor:
        retrain_all(trained, seeds, args.out / "trains", log, args.workers, executor=executor)
    print("measuring latencies", flush=True)
    measure(trained + targets, next(iter(runs.values()))[0], args.rounds)

    report: dict[str, Any] = {"seeds": seeds, "search_time_s": {k: v[1] for k, v in runs.items()},
                              "settings": {}, "targets": []}
    for setting, networks in rows.items():
        report["settings"][setting] = judge(setting, runs[setting][1], networks, seeds)
    if targets:
        print("\n### target adherence (the default search)\n\n| relative target | target ms | derived est. ms | "
              "measured ms | measured / target |\n|---|---|---|---|---|")
        for t, n in zip(args.targets, targets):
            ratio = n.measured / n.target
            report["targets"].append({"relative": t, "target_ms": n.target, "estimated_ms": n.estimated,
                                      "measured_ms": n.measured, "within_10pct": abs(ratio - 1) <= 0.10})
            print(f"| {t:g} | {n.target:.3f} | {n.estimated:.3f} | {n.measured:.3f} | {ratio:.3f} |")
        adherent = all(t["within_10pct"] for t in report["targets"])
        print(f"target adherence: {'PASS' if adherent else 'FAIL'} (every measured latency within +-10% of its "
              "target)")
    print(f"\ntotal {time.perf_counter() - started:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
