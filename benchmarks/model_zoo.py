"""The model zoo table of docs/model-zoo.md: parameters and GMACs counted here, mIoU and latencies measured by
``gasnas compare`` (whose JSON files this reads), beside the papers' claims.

    python benchmarks/model_zoo.py COMPARE_128x256.json COMPARE_512x1024.json [--json out.json]

Counts are exact and instant (the meta device); the latencies and mIoU come from the compare runs, so every
latency in the table was measured on one device, runtime and thread count in one sitting per input size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MODELS = ("bisenetv1-xception39", "bisenetv1-r18", "bisenetv2", "stdc1", "stdc2", "fasterseg")
COUNT_SIZES = ((512, 1024), (1024, 2048))
#: What the papers (or the tables quoting them) claim, from docs/model-zoo.md's sources; [R] = not verified.
CLAIMS = {
    "bisenetv1-xception39": "5.8M [R]; 14.8 GFLOPs [R]; Cityscapes val 69.0 [R], 105 FPS Titan Xp [V]",
    "bisenetv1-r18": "49.0M [R]; Cityscapes val 74.8 [R], 65.5 FPS [R]",
    "bisenetv2": "21.15 GFLOPs [R]; Cityscapes val 73.4 [R], 156 FPS 1080Ti [V]",
    "stdc1": "Cityscapes val 72.2 [V] (Seg50), 250.4 FPS 1080Ti TensorRT [V]",
    "stdc2": "Cityscapes val 74.2 [V] (Seg50), 188.6 FPS 1080Ti TensorRT [V]",
    "fasterseg": "4.4M [R]; 28.2 GFLOPs [R]; Cityscapes val 73.1 [R], 163.9 FPS 1080Ti TensorRT [R]",
}


def counts() -> dict[str, dict[str, dict]]:
    from gasnas.plugins import PluginManager
    from gasnas.runtime.macs import count

    registry = PluginManager().registry("models")
    out: dict[str, dict[str, dict]] = {}
    for name in MODELS:
        comp = registry.get(name)
        model = comp.build(19, comp.default_options())
        out[name] = {f"{h}x{w}": count(model, (1, 3, h, w)).to_dict() for h, w in COUNT_SIZES}
    return out


def by_model(path: Path) -> tuple[dict[str, dict], str]:
    data = json.loads(path.read_text())
    entries = {}
    for e in data["entries"]:
        name = e["label"].split(" (")[0]
        entries.setdefault(name, e)
    return entries, data["setting"]


def table(counted: dict, small: dict, large: dict) -> str:
    rows = ["| model | params (M) | GMACs 512x1024 | GMACs 1024x2048 | val mIoU (%) | ORT CPU ms 128x256 | "
            "ORT CPU ms 512x1024 | papers' claims (other data and hardware) |",
            "|---|---|---|---|---|---|---|---|"]
    for name in MODELS:
        c = counted[name]
        gmacs = [f"{c[s]['macs'] / 1e9:.2f} ({c[s]['conv_macs'] / 1e9:.2f})" for s in ("512x1024", "1024x2048")]
        miou = small.get(name, {}).get("miou")
        lat = [d.get(name, {}).get("latency_ms") for d in (small, large)]
        rows.append(f"| {name} | {c['512x1024']['params'] / 1e6:.2f} | {gmacs[0]} | {gmacs[1]} | "
                    f"{'-' if miou is None else f'{100 * miou:.1f}'} | "
                    + " | ".join("-" if v is None else f"{v:.1f}" for v in lat) + f" | {CLAIMS[name]} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("small", type=Path, help="gasnas compare JSON at the digit-scenes size (128x256)")
    parser.add_argument("large", type=Path, help="gasnas compare JSON at 512x1024")
    parser.add_argument("--json", type=Path, help="also write counts and measurements here")
    args = parser.parse_args()
    counted = counts()
    (small, small_setting), (large, large_setting) = by_model(args.small), by_model(args.large)
    print(table(counted, small, large))
    for size, measured, setting in (("128x256", small, small_setting), ("512x1024", large, large_setting)):
        latency = {n: measured[n]["latency_ms"] for n in MODELS if n in measured}
        if latency:
            fastest = min(latency, key=latency.get)
            ranked = sorted(latency.items(), key=lambda item: item[1])
            ratios = ", ".join(f"{n} {v / latency[fastest]:.2f}x" for n, v in ranked)
            print(f"\nlatency at {size} ({setting}), relative to {fastest}: {ratios}")
    if args.json:
        args.json.write_text(json.dumps({"counts": counted, "small": small, "large": large}, indent=2))


if __name__ == "__main__":
    main()
