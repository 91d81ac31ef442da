"""Search cost: each option of the differentiable strategy against NNI's DARTS, per epoch and to a passing verdict.

Issue 19 asks for a passing search-quality verdict in half of NNI DARTS's time or less, on the same space, data
and seed.

Cases (``--cases``): overrides of the quickstart (``--config``; ``--set`` adds overrides to every case) --
``sampled`` (the quickstart's default: REINFORCE over ``paths``), ``softmax`` (DARTS), ``gumbel`` (SNAS),
``hard_gumbel`` (GDAS, one path), ``hard_gumbel k=2`` (``gumbel_paths`` 2), ``softmax + partial_channels 2`` and
``hard_gumbel + partial_channels 2`` (PC-DARTS' K = 2), ``softmax + partial_channels 2 + edge normalisation``
(PC-DARTS whole: K = 2 and ``edge_normalization``), and ``nni-darts``: the ``nni`` strategy, algorithm DARTS,
configured as ``nni_vs_gasnas.py`` does (NNI's supernet and Lightning loop on the gas space; SGD weights; the
quickstart's ``arch_lr``; no communicator; no penalty, which NNI 3.0 computes from detached probabilities and so
does not move the architecture).

``--set`` overrides come before each case's own, so nni-darts' strategy section replaces those of
``strategy.params``.

Phase 1, the cost: every case searches ``--epochs`` epochs of ``--steps`` steps in a process of its own (so that
its peak memory is its own: max RSS of the whole process on a CPU, libraries included; max allocated on CUDA) on
``--threads`` threads, the differentiable cases without warm-up (every timed epoch is a search epoch) and
without the derived network's timing. An epoch's time is its training steps only (``nni_vs_gasnas.EpochClock``:
validation and export excluded), as process CPU time and wall time, the first epoch of each process left out
(one-time warm-up) unless it is the only one. The cases run in ``--rounds`` rounds, each round in an order
rotated by one, so that a machine that drifts meets every case alike; each case's figure is the median over
all its rounds' epochs, and its ratio to ``--baseline`` (nni-darts) is measured in this run.

Phase 2, the quality (``--quality``; hours): every case's full search, one at a time (one thread, wall time of
the ``gasnas search`` command), then ``search_quality.py``'s verdict on each: the searched network retrained with
``--seeds`` seeds beside all-conv, all-skip and ``--randoms`` random architectures at its estimated latency, all
timed end to end. Per case: search time, verdict, searched mean val mIoU, the random median, and the time to a
passing verdict (the search time when it passes) with its ratio to the baseline's. A rerun with the same
``--out`` reuses what finished. Phase 1 runs first.

    python benchmarks/search_cost.py [--cases sampled softmax ... nni-darts] [--epochs 3] [--steps 4]
        [--rounds 3] [--threads 1] [--device cpu] [--set KEY=VALUE ...] [--json FILE]
    python benchmarks/search_cost.py --quick --rounds 1 --epochs 2 --steps 1   # a smoke run: ~15 s a case
    python benchmarks/search_cost.py --cases sampled "hard_gumbel k=2" nni-darts --rounds 5
    python benchmarks/search_cost.py --quality [--out runs/search-cost] [--seeds 3] [--randoms 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from nni_vs_gasnas import nni_params, prepare_data, run
from retraining import measure, retrain_all
from search_quality import judge, networks_of, search

HERE = Path(__file__).resolve().parent
RELAXATION = "strategy.params.relaxation"
#: the differentiable strategy's options to compare: overrides of the quickstart
DIFFERENTIABLE: dict[str, list[str]] = {
    "sampled": [],
    "softmax": [f"{RELAXATION}=softmax"],
    "gumbel": [f"{RELAXATION}=gumbel"],
    "hard_gumbel": [f"{RELAXATION}=hard_gumbel"],
    "hard_gumbel k=2": [f"{RELAXATION}=hard_gumbel", "strategy.params.gumbel_paths=2"],
    "softmax + partial_channels 2": [f"{RELAXATION}=softmax", "strategy.params.partial_channels=2"],
    "hard_gumbel + partial_channels 2": [f"{RELAXATION}=hard_gumbel", "strategy.params.partial_channels=2"],
    "softmax + partial_channels 2 + edge normalisation": [f"{RELAXATION}=softmax", "strategy.params.partial_channels=2",
                                                          "strategy.params.edge_normalization=true"],
}
NNI_DARTS = "nni-darts"
CASE_NAMES = [*DIFFERENTIABLE, NNI_DARTS]
#: --quick: the gas-tiny space with 2 cells of 2 nodes on 32 x 64 digit scenes, batch 2, FLOPs as the latency
QUICK = ["dataset.params={size: [32, 64], train_size: 16, val_size: 4, test_size: 4, augment: {crop: [32, 64]}}",
         "space.params={preset: gas-tiny, cells: 2, nodes: 2, reductions: [1]}", "budget.batch_size=2",
         "latency={name: flops, target_relative: 1.0}", "strategy.params.val_batches=1"]


def cases(config: str, common: list[str], names: list[str]) -> dict[str, list[str]]:
    """The overrides of each named case; nni-darts learns the architecture at the ``arch_lr`` of ``config`` with
    the ``common`` overrides."""
    from gasnas.config import load_config
    from gasnas.errors import ConfigError

    strategy = load_config(config, common).strategy
    if strategy.name != "differentiable":
        raise ConfigError(f"{config}: strategy.name is '{strategy.name}'; the cases are options of the "
                          "differentiable strategy: give a config whose strategy is differentiable")
    arch_lr = strategy.params.arch_lr
    nni = [f"strategy={{name: nni, params: {nni_params(arch_lr, 0.0)}}}", "communicator=null"]
    return {name: nni if name == NNI_DARTS else DIFFERENTIABLE[name] for name in names}


def slug(name: str) -> str:
    """A case's name as a folder name ("hard_gumbel k=2" -> "hard_gumbel-k-2")."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-")


def cost_overrides(config: str, common: list[str], overrides: list[str], epochs: int, steps: int,
                   output: Path) -> list[str]:
    """Phase 1's overrides of one case: a fixed budget, no warm-up for the differentiable strategy, no timing of
    the derived network, runs under ``output``. Loading them checks them (a bad override fails here, named)."""
    from gasnas.config import load_config

    out = [*common, *overrides, f"budget.epochs={epochs}", f"budget.steps_per_epoch={steps}", "latency.measure=null",
           f"output={output}"]
    if load_config(config, out).strategy.name == "differentiable":
        out.append("strategy.params.warmup_epochs=0")
    return out


def measure_case(config: str, overrides: list[str], device: str, threads: int, result: str) -> None:
    """One case's search in this process (:func:`nni_vs_gasnas.run`): its epoch times and this process's peak
    memory, written to ``result`` as JSON."""
    import logging
    import resource

    import torch

    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    figures = run(Path(config), overrides, device, threads)
    cuda = device.startswith("cuda")
    figures["peak_mib"] = (torch.cuda.max_memory_allocated() / 2**20 if cuda
                           else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    Path(result).write_text(json.dumps(figures, default=str))


def run_case(config: str, overrides: list[str], device: str, threads: int, result: Path) -> dict[str, Any]:
    """:func:`measure_case` in a fresh process on ``threads`` threads; a failure is returned as its last line."""
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); from search_cost import measure_case; "
            f"measure_case({config!r}, {overrides!r}, {device!r}, {threads}, {str(result)!r})")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]}
    return json.loads(result.read_text())


def steady(times: list[float]) -> list[float]:
    """An epoch list without its first epoch (one-time warm-up), unless that is all there is."""
    return times[1:] or times


def cost(config: str, named: dict[str, list[str]], common: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Phase 1: every case in its own process, ``args.rounds`` rounds in rotated orders; medians and ratios."""
    names = list(named)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="search-cost-") as tmp:
        work = Path(tmp)
        overrides = {name: cost_overrides(config, common, o, args.epochs, args.steps, work / "runs" / slug(name))
                     for name, o in named.items()}
        prepare_data(config, common)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                print(f"round {r + 1}/{args.rounds}: {name} ...", file=sys.stderr, flush=True)
                result = work / f"{slug(name)}-{r}.json"
                rounds[name].append(run_case(config, overrides[name], args.device, args.threads, result))
    figures: dict[str, Any] = {}
    for name, runs in rounds.items():
        errors = [x["error"] for x in runs if "error" in x]
        if errors:
            figures[name] = {"error": errors[0], "rounds": runs}
            continue
        figures[name] = {"epoch_cpu_s": statistics.median(t for x in runs for t in steady(x["cpu_s"])),
                         "epoch_wall_s": statistics.median(t for x in runs for t in steady(x["wall_s"])),
                         "peak_mib": max(x["peak_mib"] for x in runs), "rounds": runs}
    base = figures[args.baseline]
    for name, f in figures.items():
        if "error" not in f and "error" not in base:
            f["cpu_ratio"] = f["epoch_cpu_s"] / base["epoch_cpu_s"]
            f["wall_ratio"] = f["epoch_wall_s"] / base["epoch_wall_s"]
    return {"overrides": overrides, "cases": figures}


def print_cost(figures: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\nsearch epoch cost: {args.epochs} epochs x {args.steps} steps, {args.rounds} round(s), device "
          f"{args.device}, {args.threads} thread(s); ratios to {args.baseline}, measured in this run\n")
    peak = "max allocated" if args.device.startswith("cuda") else "max RSS"
    print(f"| case | epoch CPU s | epoch wall s | CPU / {args.baseline} | wall / {args.baseline} | "
          f"peak MiB ({peak}) |\n|---|---|---|---|---|---|")
    for name, f in figures["cases"].items():
        if "error" in f:
            print(f"| {name} | failed: {f['error']} | | | | |")
        else:
            ratios = (f"{f['cpu_ratio']:.2f} | {f['wall_ratio']:.2f}" if "cpu_ratio" in f else "n/a | n/a")
            print(f"| {name} | {f['epoch_cpu_s']:.3f} | {f['epoch_wall_s']:.3f} | {ratios} | {f['peak_mib']:.0f} |")


def quality(config: str, named: dict[str, list[str]], common: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Phase 2: each case's full search, one at a time, then search_quality.py's verdict on all of them."""
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "log.txt"
    seeds = list(range(args.seeds))
    runs = {}
    for name, overrides in named.items():  # one at a time: each search's time is its own
        print(f"searching {name} (log {log}) ...", flush=True)
        runs[name] = search(config, args.out, slug(name), [*common, *overrides], log)
    rows = networks_of({name: r for name, (r, _) in runs.items()}, args.randoms, args.tolerance,
                       args.out / "architectures")
    trained = [n for networks in rows.values() for n in networks]
    print(f"retraining {len({n.arch_file for n in trained})} networks x {len(seeds)} seeds", flush=True)
    retrain_all(trained, seeds, args.out / "trains", log, args.workers)
    print("measuring latencies", flush=True)
    measure(trained, next(iter(runs.values()))[0], args.latency_rounds)
    report = {}
    for name, networks in rows.items():
        seconds = runs[name][1]
        judged = judge(name, seconds, networks, seeds)
        report[name] = {"search_s": seconds, "passed": judged["verdict"]["passed"],
                        "time_to_pass_s": seconds if judged["verdict"]["passed"] else None, **judged}
    base = report[args.baseline]["time_to_pass_s"]
    for r in report.values():
        r["time_to_pass_ratio"] = r["time_to_pass_s"] / base if None not in (r["time_to_pass_s"], base) else None
    return report


def print_quality(report: dict[str, Any], baseline: str) -> None:
    print(f"\n| case | search s | verdict | searched val mIoU | random median | time to a passing verdict s | "
          f"/ {baseline} |\n|---|---|---|---|---|---|---|")
    for name, r in report.items():
        v = r["verdict"]
        passing = f"{r['time_to_pass_s']:.0f}" if r["time_to_pass_s"] is not None else "n/a"
        ratio = f"{r['time_to_pass_ratio']:.2f}" if r["time_to_pass_ratio"] is not None else "n/a"
        print(f"| {name} | {r['search_s']:.0f} | {'PASS' if r['passed'] else 'FAIL'} | {v['searched']:.3f} | "
              f"{v['random_median']:.3f} | {passing} | {ratio} |")
    passed = {name: r["time_to_pass_s"] for name, r in report.items() if r["passed"]}
    if passed:
        best = min(passed, key=passed.get)
        ratio = report[best]["time_to_pass_ratio"]
        print(f"\nleast time to a passing verdict: {best} ({passed[best]:.0f} s"
              + (f", {ratio:.2f} of {baseline}'s; the target is 0.5 or less)" if ratio is not None else
                 f"; {baseline} did not pass)"))
    else:
        print("\nno case reached a passing verdict")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="search config (default: the packaged quickstart)")
    parser.add_argument("--cases", nargs="+", default=CASE_NAMES, choices=CASE_NAMES, metavar="CASE",
                        help=f"the cases to run, of: {', '.join(CASE_NAMES)} (default: all)")
    parser.add_argument("--baseline", default=NNI_DARTS, choices=CASE_NAMES, metavar="CASE",
                        help=f"the case the ratios are to (default: {NNI_DARTS})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="an override for every case")
    parser.add_argument("--quick", action="store_true", help="tiny space, data and batch: a smoke run")
    parser.add_argument("--seed", type=int, default=0, help="the searches' seed (the same for every case)")
    parser.add_argument("--device", default="cpu", help="phase 1's device")
    parser.add_argument("--threads", type=int, default=1, help="phase 1's torch CPU threads (the same for every case)")
    parser.add_argument("--epochs", type=int, default=3, help="phase 1: search epochs per case and round")
    parser.add_argument("--steps", type=int, default=4, help="phase 1: steps per epoch")
    parser.add_argument("--rounds", type=int, default=3, help="phase 1: interleaved rounds")
    parser.add_argument("--quality", action="store_true", help="phase 2: full searches and verdicts (hours)")
    parser.add_argument("--out", type=Path, default=Path("runs/search-cost"), help="phase 2's folder")
    parser.add_argument("--seeds", type=int, default=3, help="phase 2: retraining seeds per network")
    parser.add_argument("--randoms", type=int, default=8, help="phase 2: random architectures per case")
    parser.add_argument("--tolerance", type=float, default=0.05, help="phase 2: the random ones' latency window")
    parser.add_argument("--workers", type=int, default=2, help="phase 2: trainings at a time (one thread each)")
    parser.add_argument("--latency-rounds", type=int, default=3, help="phase 2: rounds of the latency measurement")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    for name in ("threads", "epochs", "steps", "rounds", "seeds", "randoms", "workers", "latency_rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.baseline not in args.cases:
        parser.error(f"--baseline {args.baseline} is not among --cases ({', '.join(args.cases)}): add it, or name "
                     "one of them")
    from gasnas.config import default_config_path

    config = args.config or str(default_config_path())
    common = [f"seed={args.seed}", *(QUICK if args.quick else []), *args.overrides]
    named = cases(config, common, list(dict.fromkeys(args.cases)))
    results: dict[str, Any] = {"args": vars(args), "config": config, "common_overrides": common,
                               "cost": cost(config, named, common, args)}
    print_cost(results["cost"], args)
    if args.quality:
        results["quality"] = quality(config, named, common, args)
        print_quality(results["quality"], args.baseline)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    from gasnas.errors import GasnasError

    try:
        main()
    except GasnasError as exc:  # a bad config or override: its message names the key, no traceback
        sys.exit(f"search_cost.py: {exc}")
