"""Inference latency on CPU: ONNX Runtime vs torch eager mode, for the same small network, in one run.

    python benchmarks/ort_vs_torch.py [TARGET] [--input 1x3x128x256] [--threads 2] [--repeats 50] [--json out.json]

TARGET is a registered model or an architecture file; the default is the ``gas`` space's (gas-tiny preset)
default architecture. Both runtimes use the shared timing code (``gasnas.runtime.timing``) with the same
thread count, warm-up and repeats, interleaved twice to even out load changes; prints the medians and the ratio
torch / ONNX Runtime (above 1: ONNX Runtime is faster). Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from gasnas.plugins import PluginManager  # noqa: E402
from gasnas.runtime.export import export_onnx  # noqa: E402
from gasnas.runtime.timing import time_onnxruntime, time_torch  # noqa: E402
from gasnas_plugins.training.network import resolve_target  # noqa: E402
from train_throughput import default_target  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?")
    parser.add_argument("--input", default="1x3x128x256")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--num-classes", type=int, default=11)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.input.split("x"))
    pm = PluginManager()
    spec = resolve_target(args.target or default_target(pm), pm)
    torch.manual_seed(0)
    model = spec.build(args.num_classes, pm).eval()
    onnx_model = export_onnx(model, shape)
    kw = {"warmup": args.warmup, "repeats": args.repeats, "threads": args.threads}
    runs = {"torch": [], "onnxruntime": []}
    for _ in range(2):  # interleaved, so that a change in load hits both runtimes
        runs["torch"].append(time_torch(model, shape, **kw))
        runs["onnxruntime"].append(time_onnxruntime(onnx_model, shape, **kw))
    best = {k: min(v, key=lambda t: t.median_ms) for k, v in runs.items()}
    print(f"network: {spec.describe()}, input {args.input}, CPU, {args.threads} threads, "
          f"{args.warmup} warm-up + {args.repeats} timed calls, best of 2 interleaved rounds")
    for name, t in best.items():
        print(f"{name:12s}: median {t.median_ms:8.3f} ms  p90 {t.p90_ms:8.3f} ms  p99 {t.p99_ms:8.3f} ms  "
              f"({t.provider})")
    ratio = best["torch"].median_ms / best["onnxruntime"].median_ms
    print(f"ratio torch / onnxruntime: {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"network": spec.describe(), "input": args.input, "ratio": ratio,
                                         **{k: t.to_dict() for k, t in best.items()}}, indent=2))


if __name__ == "__main__":
    main()
