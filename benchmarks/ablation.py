"""The GAS ablation on the quickstart: GCN vs no communication, a sweep of the latency weight beta, and the
evolution strategy in the same setting.

Each setting runs the quickstart search (``gasnas search`` with overrides), then retrains its derived
architecture from scratch with the same short recipe (``gasnas train``) and reports the architecture's
estimated latency (lut), its measured latency (ONNX Runtime) and the retrained val mIoU.

    python benchmarks/ablation.py [--out runs/ablation] [--train-epochs 8] [--json results.json] [--only NAME...]

The retrain recipe is the model zoo's shared short recipe (``RECIPE``), so the retrained mIoU sits in the same
column as the zoo's; ``--threads`` fixes the thread count of searches, trains and latency measurements alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {
    "gcn, beta 0.5": ["communicator.name=gcn", "strategy.params.beta=0.5"],
    "none, beta 0.5": ["communicator.name=none", "strategy.params.beta=0.5"],
    "gcn, beta 0": ["communicator.name=gcn", "strategy.params.beta=0"],
    "gcn, beta 2": ["communicator.name=gcn", "strategy.params.beta=2"],
    "gcn, beta 8": ["communicator.name=gcn", "strategy.params.beta=8"],
    # not an ablation of GAS: the quickstart with the strategy swapped, for docs/strategies-comparison.md
    "evolution": ["strategy=evolution"],
}


#: the shared short recipe of docs/model-zoo.md (AdamW, 64 x 128 crops, batch 8); --train-epochs sets the epochs
RECIPE = ["--batch-size", "8", "--lr", "0.003", "--set", "train.optimizer=adamw", "--set", "train.weight_decay=0.0001",
          "--set", "train.crop=[64,128]", "--device", "cpu"]


def gasnas(*args: str, threads: int | None = None) -> None:
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    subprocess.run([sys.executable, "-m", "gasnas.cli", *args], check=True, stdout=subprocess.DEVNULL, env=env)


def best_metric(run: Path, key: str = "val_miou") -> float:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return max(r[key] for r in records if key in r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--train-epochs", type=int, default=8)
    parser.add_argument("--json")
    parser.add_argument("--only", nargs="*", help="run only these settings")
    parser.add_argument("--threads", type=int, help="CPU threads of every step (default: torch's)")
    args = parser.parse_args()
    out = Path(args.out)
    rows = {}
    for name, overrides in SETTINGS.items():
        if args.only and name not in args.only:
            continue
        slug = name.replace(", ", "-").replace(" ", "")
        start = time.perf_counter()
        gasnas("search", "--output", str(out), "--name", f"search-{slug}", *[a for o in overrides for a in ("--set", o)],
               threads=args.threads)
        search_s = time.perf_counter() - start
        arch_file = out / f"search-{slug}" / "architecture.yaml"
        import yaml

        meta = yaml.safe_load(arch_file.read_text())["metadata"]
        threads = ["--set", f"train.threads={args.threads}"] if args.threads else []
        gasnas("train", str(arch_file), "--epochs", str(args.train_epochs), "--output", str(out), "--name",
               f"train-{slug}", *RECIPE, *threads, threads=args.threads)
        rows[name] = {"search_s": round(search_s, 1), "estimated_ms": meta["estimated_latency"],
                      "measured_ms": meta.get("measured_latency"),
                      "val_miou": round(best_metric(out / f"train-{slug}"), 4)}
        print(f"{name:16s} search {rows[name]['search_s']:6.1f} s  estimated {rows[name]['estimated_ms']:.3f} ms  "
              f"measured {rows[name]['measured_ms']:.3f} ms  retrained val mIoU {rows[name]['val_miou']:.4f}",
              flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
