"""Does the search find networks worth deploying? The searched network against random ones at equal latency.

For each strategy setting (the quickstart's differentiable search with the GCN, the same without it, and the
evolution strategy) this runs the search, then retrains from scratch, with one short recipe and several seeds:

- the searched architecture;
- ``all-skip`` and ``all-conv``: the searched cells' wiring with every operation a skip connection, or a 3x3
  convolution;
- random architectures whose estimated latency (the search's own estimator) is within +-5% of the searched one's
  (drawn until enough are found).

Every network is then timed end to end (ONNX Runtime, one thread, interleaved rounds, with nothing else running)
and a verdict is printed per setting. It passes when the searched network's mean val mIoU beats the median of
the random ones by at least twice the seed-to-seed standard error, beats all-skip, at most a third of its
operations are skip connections, and no retrained network is both faster (measured) and more accurate.

Target adherence: the default search with latency targets across the space's range (``--targets``, fractions of
the median random architecture's latency); each derived network's measured latency must lie within +-10% of its
target.

    python benchmarks/search_quality.py [--out runs/search-quality] [--seeds 3] [--randoms 8] [--workers 2]
        [--settings gcn none evolution] [--targets 0.8 1.0 1.2] [--json search-quality.json]

Searches and trainings run on one thread each (``--workers`` of them at a time); latencies are measured after
every training has finished. The whole run takes a few hours on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: strategy settings: overrides of the default (quickstart) config
SETTINGS: dict[str, list[str]] = {
    "gcn": [],
    "none": ["communicator.name=none"],
    "evolution": ["strategy={name: evolution}"],
}
#: the short retraining recipe: AdamW on 64 x 128 crops (the dataset's default augmentation), val mIoU of the last
#: epoch (no best-epoch pick on the split that is reported)
RECIPE = ["--batch-size", "8", "--lr", "0.003", "--set", "train.optimizer=adamw", "--set",
          "train.weight_decay=0.0001", "--set", "train.threads=1", "--device", "cpu"]
SKIP, CONV = "skip_connect", "conv_3x3"


@dataclass
class Candidate:
    """A network to retrain: its sample, what it is, its estimated latency, and what the retrains gave."""

    name: str
    kind: str  # searched, all-skip, all-conv, random, target
    sample: dict[str, Any]
    estimated: float
    setting: str
    measured: float | None = None
    miou: dict[int, float] = field(default_factory=dict)
    arch_file: Path | None = None

    @property
    def mean(self) -> float:
        return statistics.fmean(self.miou.values()) if self.miou else math.nan

    def skip_share(self) -> float:
        ops = [v for k, v in self.sample.items() if "/op_" in k]
        return sum(v == SKIP for v in ops) / max(len(ops), 1)


def run(args: list[str], log: Path) -> float:
    """A gasnas command on one thread, its output appended to ``log``; returns its wall time."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.perf_counter()
    with log.open("a") as out:
        out.write(f"$ gasnas {' '.join(args)}\n")
        out.flush()
        subprocess.run([sys.executable, "-m", "gasnas.cli", *args], check=True, stdout=out, stderr=subprocess.STDOUT,
                       env=env)
    return time.perf_counter() - start


def search(config: str, out: Path, name: str, overrides: list[str], log: Path) -> tuple[Path, float]:
    run_dir = out / "searches" / name
    if (run_dir / "architecture.yaml").is_file():  # a rerun reuses finished searches
        return run_dir, json.loads((run_dir / "summary.json").read_text())["metrics"].get("search_time_s", math.nan)
    sets = [a for o in overrides for a in ("--set", o)]
    seconds = run(["search", config, "--output", str(out / "searches"), "--name", name, *sets], log)
    return run_dir, seconds


def load_run(run_dir: Path):
    """The search's space, estimator and input shape, as its run directory's config builds them."""
    from gasnas.api.latency import LatencyEnv
    from gasnas.architecture import Architecture
    from gasnas.config import load_config
    from gasnas.plugins import get_plugin_manager

    config = load_config(run_dir / "config.yaml")
    registry = get_plugin_manager().registry
    dataset = registry("datasets").get(config.dataset.name).load()(config.dataset.params)
    space = registry("search spaces").get(config.space.name).load()(config.space.params)
    env = LatencyEnv(device="cpu", num_classes=dataset.num_classes)
    estimator = registry("latency estimators").get(config.latency.name).load()(config.latency.params, env)
    best = Architecture.load(run_dir / "architecture.yaml")
    return config, space, estimator, tuple(best.metadata["input_shape"]), best


def candidates_for(setting: str, run_dir: Path, randoms: int, tolerance: float, seed: int) -> list[Candidate]:
    config, space, estimator, shape, best = load_run(run_dir)
    estimated = float(estimator.estimate(space, best.sample, shape))
    out = [Candidate(f"{setting}: searched", "searched", dict(best.sample), estimated, setting)]
    for kind, op in (("all-skip", SKIP), ("all-conv", CONV)):
        sample = {k: (op if "/op_" in k else v) for k, v in best.sample.items()}
        out.append(Candidate(f"{setting}: {kind}", kind, sample, float(estimator.estimate(space, sample, shape)),
                             setting))
    rng = random.Random(seed)
    found, drawn = [], 0
    while len(found) < randoms and drawn < 20_000:
        sample = space.random_sample(rng)
        drawn += 1
        latency = float(estimator.estimate(space, sample, shape))
        if abs(latency - estimated) <= tolerance * estimated:
            found.append(Candidate(f"{setting}: random {len(found) + 1}", "random", sample, latency, setting))
    if len(found) < randoms:
        print(f"  {setting}: only {len(found)} of {drawn} random architectures lie within +-{tolerance:.0%} of "
              f"{estimated:.3f} ms", flush=True)
    print(f"  {setting}: {len(found)} random architectures within +-{tolerance:.0%} of the searched "
          f"{estimated:.3f} {estimator.unit} ({drawn} drawn)", flush=True)
    return out + found


def write_architecture(candidate: Candidate, run_dir: Path, folder: Path) -> Path:
    """An architecture file whose metadata points at the search run (so that training uses its dataset)."""
    from gasnas.architecture import Architecture

    _, space_name, params = _space_of(run_dir)
    arch = Architecture(candidate.sample, space_name, params, {"run": str(run_dir)})
    return arch.save(folder / f"{arch.id}.yaml")


def _space_of(run_dir: Path):
    import yaml

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    return config, config["space"]["name"], config["space"].get("params") or {}


def retrain(arch_file: Path, seed: int, epochs: int, out: Path, log: Path) -> float:
    name = f"{arch_file.stem}-s{seed}"
    summary = out / "trains" / name / "summary.json"
    if not summary.is_file():
        run(["train", str(arch_file), "--epochs", str(epochs), "--set", f"train.eval_every={epochs}", "--set",
             f"seed={seed}", "--output", str(out / "trains"), "--name", name, *RECIPE], log)
    return float(json.loads(summary.read_text())["last"]["val_miou"])


def measure(candidates: list[Candidate], rounds: int) -> None:
    """Time every distinct network end to end: ONNX Runtime, 1 thread, ``rounds`` interleaved rounds."""
    import torch

    from gasnas_plugins.latency import WholeNetworkOptions
    from gasnas_plugins.latency.check import measure_interleaved
    from gasnas_plugins.latency.whole import OnnxRuntimeEstimator
    from gasnas.api.latency import LatencyEnv

    torch.set_num_threads(1)
    groups: dict[Path, list[Candidate]] = {}
    for c in candidates:
        groups.setdefault(c.arch_file, []).append(c)
    first = next(iter(groups.values()))[0]
    _, space, _, shape, _ = load_run(Path(_run_of(first)))
    env = LatencyEnv(device="cpu", num_classes=_classes(first))
    timer = OnnxRuntimeEstimator(WholeNetworkOptions(threads=1, warmup=10, repeats=50), env)
    files = list(groups)
    samples = [groups[f][0].sample for f in files]
    for f, ms in zip(files, measure_interleaved(timer, space, samples, shape, rounds=rounds, seed=0)):
        for c in groups[f]:
            c.measured = ms


def _run_of(candidate: Candidate) -> str:
    import yaml

    return yaml.safe_load(candidate.arch_file.read_text())["metadata"]["run"]


def _classes(candidate: Candidate) -> int:
    config, _, _, _, _ = load_run(Path(_run_of(candidate)))
    from gasnas.plugins import get_plugin_manager

    return get_plugin_manager().registry("datasets").get(config.dataset.name).load()(config.dataset.params).num_classes


def verdict(rows: list[Candidate], seeds: int) -> dict[str, Any]:
    searched = next(c for c in rows if c.kind == "searched")
    randoms = [c for c in rows if c.kind == "random"]
    skip = next(c for c in rows if c.kind == "all-skip")
    variances = [statistics.variance(c.miou.values()) for c in rows if len(c.miou) > 1]
    se = math.sqrt(statistics.fmean(variances)) / math.sqrt(seeds) if variances else math.nan
    median = statistics.median(c.mean for c in randoms) if randoms else math.nan
    dominating = [c.name for c in rows if c is not searched and c.measured is not None and searched.measured
                  is not None and c.measured < searched.measured and c.mean > searched.mean]
    checks = {
        "beats the random median by 2 SE": searched.mean >= median + 2 * se,
        "beats all-skip": searched.mean > skip.mean,
        "at most a third skip connections": searched.skip_share() <= 1 / 3 + 1e-9,
        "no network both faster and more accurate": not dominating,
    }
    return {"passed": all(checks.values()), "checks": checks, "random_median": median, "seed_se": se,
            "margin": searched.mean - median, "dominated_by": dominating}


def table(rows: list[Candidate], seeds: list[int]) -> str:
    lines = ["| network | est. ms | measured ms | mean val mIoU | " + " | ".join(f"seed {s}" for s in seeds)
             + " | skip share |", "|---|---|---|---|" + "---|" * len(seeds) + "---|"]
    order = {"searched": 0, "all-conv": 1, "all-skip": 2, "random": 3}
    for c in sorted(rows, key=lambda c: (order.get(c.kind, 4), c.estimated)):
        per_seed = " | ".join(f"{c.miou[s]:.3f}" if s in c.miou else "-" for s in seeds)
        measured = f"{c.measured:.3f}" if c.measured is not None else "-"
        lines.append(f"| {c.name} | {c.estimated:.3f} | {measured} | {c.mean:.3f} | {per_seed} | "
                     f"{c.skip_share():.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="search config (default: the packaged quickstart)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="override for every search")
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--out", type=Path, default=Path("runs/search-quality"))
    parser.add_argument("--seeds", type=int, default=3, help="retraining seeds per network")
    parser.add_argument("--randoms", type=int, default=8, help="random architectures per setting")
    parser.add_argument("--tolerance", type=float, default=0.05, help="random architectures' latency window")
    parser.add_argument("--train-epochs", type=int, default=24, help="epochs of the retraining recipe")
    parser.add_argument("--workers", type=int, default=2, help="searches / trainings at a time (1 thread each)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the latency measurement")
    parser.add_argument("--targets", type=float, nargs="*", default=[0.8, 1.0, 1.2],
                        help="relative latency targets of the adherence check (none: skip it)")
    parser.add_argument("--search-seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from gasnas.config import default_config_path

    config = args.config or str(default_config_path())
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "log.txt"
    seeds = list(range(args.seeds))
    started = time.perf_counter()
    print(f"search quality: settings {', '.join(args.settings)}; {args.seeds} seeds; log in {log}", flush=True)

    searches: dict[str, tuple[Path, float]] = {}
    jobs = {s: [*args.overrides, f"seed={args.search_seed}", *SETTINGS[s]] for s in args.settings}
    jobs.update({f"target {t:g}": [*args.overrides, f"seed={args.search_seed}", f"latency.target_relative={t}"]
                 for t in args.targets})
    with ThreadPoolExecutor(args.workers) as pool:
        futures = {name: pool.submit(search, config, args.out, name.replace(" ", "-"), overrides, log)
                   for name, overrides in jobs.items()}
        for name, future in futures.items():
            searches[name] = future.result()
            print(f"  searched {name}: {searches[name][1]:.0f} s", flush=True)

    rows: dict[str, list[Candidate]] = {}
    for setting in args.settings:
        run_dir, _ = searches[setting]
        rows[setting] = candidates_for(setting, run_dir, args.randoms, args.tolerance, seed=1000 + len(rows))
    targets: list[Candidate] = []
    for t in args.targets:
        run_dir, _ = searches[f"target {t:g}"]
        _, space, estimator, shape, best = load_run(run_dir)
        c = Candidate(f"target {t:g}", "target", dict(best.sample), float(estimator.estimate(space, best.sample, shape)),
                      "target")
        c.target = float(best.metadata["latency_target"])  # type: ignore[attr-defined]
        targets.append(c)
    every = [c for r in rows.values() for c in r]
    folder = args.out / "architectures"
    for c in every + targets:
        run_dir = searches[c.setting if c.kind != "target" else c.name][0]
        c.arch_file = write_architecture(c, run_dir, folder)

    distinct = {c.arch_file: c for c in every}
    tasks = [(f, s) for f in distinct for s in seeds]
    print(f"retraining {len(distinct)} networks x {len(seeds)} seeds ({args.train_epochs} epochs each)", flush=True)
    with ThreadPoolExecutor(args.workers) as pool:
        results = list(pool.map(lambda fs: retrain(fs[0], fs[1], args.train_epochs, args.out, log), tasks))
    for (f, s), miou in zip(tasks, results):
        for c in every:
            if c.arch_file == f:
                c.miou[s] = miou

    print("measuring latencies (nothing else running)", flush=True)
    measure(every + targets, args.rounds)

    report: dict[str, Any] = {"settings": {}, "targets": [], "seeds": seeds,
                              "search_time_s": {k: v[1] for k, v in searches.items()}}
    for setting, r in rows.items():
        result = verdict(r, len(seeds))
        report["settings"][setting] = {"verdict": result, "rows": [
            {"name": c.name, "kind": c.kind, "estimated_ms": c.estimated, "measured_ms": c.measured,
             "miou": c.miou, "mean_miou": c.mean, "skip_share": c.skip_share(), "sample": c.sample} for c in r]}
        print(f"\n## {setting} (search {searches[setting][1]:.0f} s)\n\n{table(r, seeds)}\n", flush=True)
        print(f"verdict: {'PASS' if result['passed'] else 'FAIL'} -- searched minus random median "
              f"{result['margin']:+.3f} (2 SE = {2 * result['seed_se']:.3f}); "
              + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in result["checks"].items()), flush=True)
    if targets:
        print("\n## target adherence (the default search)\n\n| relative target | target ms | derived est. ms | "
              "measured ms | measured / target |\n|---|---|---|---|---|")
        for t, c in zip(args.targets, targets):
            ratio = c.measured / c.target  # type: ignore[attr-defined]
            ok = abs(ratio - 1) <= 0.10
            report["targets"].append({"relative": t, "target_ms": c.target, "estimated_ms": c.estimated,  # type: ignore[attr-defined]
                                      "measured_ms": c.measured, "within_10pct": ok})
            print(f"| {t:g} | {c.target:.3f} | {c.estimated:.3f} | {c.measured:.3f} | {ratio:.3f} "  # type: ignore[attr-defined]
                  f"{'' if ok else '(outside +-10%)'} |")
        print(f"target adherence: {'PASS' if all(t['within_10pct'] for t in report['targets']) else 'FAIL'}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
