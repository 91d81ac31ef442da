"""The three numbers that make digit-scenes a task worth searching on (docs/datasets.md):

1. the share of foreground (sign) pixels in the train and val splits;
2. the val mIoU of an all-``conv_3x3`` ``gas-tiny`` network trained with the short recipe on the quickstart
   search's image budget (``retraining.RECIPE``: 24,000 training crops), over ``--seeds`` seeds;
3. the spread of val mIoU among ``--randoms`` random ``gas-tiny`` architectures whose estimated latency lies
   within +-5% of the median random architecture's, each retrained the same way: something to search for.

    python benchmarks/digit_scenes.py [--out runs/digit-scenes] [--seeds 3] [--randoms 10] [--workers 2]

It runs a one-epoch quickstart search first, only to build the latency table and the space exactly as the
quickstart does; the random architectures are drawn with that table. About an hour on 2 CPU cores; given
``search_quality.py``'s ``--out``, it reuses the trainings of the random architectures both drew (one seeded
stream, ``retraining.RANDOM_SEED``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from retraining import CONV, RANDOM_SEED, Network, SearchRun, gasnas, retrain_all, seed_se, table


def foreground(split: str) -> float:
    from gasnas_plugins.datasets.digit_scenes import DigitScenes

    counts = DigitScenes().class_counts(split)
    return float(counts[1:].sum() / counts.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/digit-scenes"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--randoms", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from gasnas.config import default_config_path

    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "log.txt"
    seeds = list(range(args.seeds))
    shares = {split: foreground(split) for split in ("train", "val")}
    print("foreground pixels: " + ", ".join(f"{k} {v:.1%}" for k, v in shares.items()), flush=True)

    path = args.out / "table"
    if not (path / "architecture.yaml").is_file():  # one epoch: the latency table and the resolved space
        gasnas(["search", str(default_config_path()), "--output", str(args.out), "--name", "table", "--set",
                "budget.epochs=2", "--set", "budget.steps_per_epoch=1", "--set", "latency.measure=null"], log)
    run = SearchRun.load(path)
    median = float(run.best.metadata["latency_target"])  # the quickstart's target: the median random latency
    conv = Network("all-conv", "all-conv", run.with_ops(CONV), 0.0)
    conv.estimated = run.estimate(conv.sample)
    # the random stream of search_quality.py: run with its --out, the random networks both draw train once
    found, drawn = run.randoms_near(median, args.randoms, 0.05, seed=RANDOM_SEED)
    randoms = [Network(f"random {i + 1}", "random", s, run.estimate(s)) for i, s in enumerate(found)]
    print(f"median random latency {median:.3f} ms; {len(found)} random architectures within +-5% ({drawn} drawn)",
          flush=True)
    folder = args.out / "architectures"
    folder.mkdir(exist_ok=True)
    networks = [conv, *sorted(randoms, key=lambda n: n.estimated)]
    for n in networks:
        run.architecture_file(n, folder)
    retrain_all(networks, seeds, args.out / "trains", log, args.workers)

    means = [n.mean for n in randoms]
    spread = max(means) - min(means)
    print(f"\n{table(networks, seeds)}\n")
    print(f"1. foreground: train {shares['train']:.1%}, val {shares['val']:.1%} (target >= 25%)")
    print(f"2. all-conv gas-tiny: mean val mIoU {conv.mean:.3f} over {len(seeds)} seeds (target >= 0.5)")
    print(f"3. {len(randoms)} random architectures at {median:.2f} ms +-5%: mean val mIoU {statistics.fmean(means):.3f}, "
          f"spread (best - worst mean) {spread:.3f}, standard deviation {statistics.stdev(means):.3f} "
          f"(target spread >= 0.05); seed-to-seed standard error of a mean {seed_se(networks):.3f}")
    if args.json:
        args.json.write_text(json.dumps({
            "foreground": shares, "all_conv": {"miou": conv.miou, "mean": conv.mean},
            "median_latency_ms": median, "randoms": [{"estimated_ms": n.estimated, "miou": n.miou, "mean": n.mean,
                                                      "sample": n.sample} for n in randoms],
            "spread": spread, "seed_se": seed_se(networks)}, indent=2))


if __name__ == "__main__":
    main()
