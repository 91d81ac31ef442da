"""Stand in for a device you would time the blocks on: fill a template's ms column from its MACs.

On a real project you run each exported block (``--onnx``) with your device's own tool (TFLite's benchmark,
trtexec, a vendor SDK) and write the median ms. Here a pretend device costs a fixed launch overhead per block
plus its MACs at a fixed throughput, so the example runs anywhere:

    python examples/custom_estimator/simulate_device.py blocks.csv -o my-device.csv
"""

from __future__ import annotations

import argparse
import csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", help="the CSV written by `gasnas device-table template`")
    parser.add_argument("-o", "--output", required=True, help="the filled-in CSV")
    parser.add_argument("--launch-ms", type=float, default=0.02, help="fixed cost of every block (ms)")
    parser.add_argument("--gmacs-per-s", type=float, default=20.0, help="throughput of the pretend device")
    args = parser.parse_args()
    with open(args.template, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    for row in rows:
        row["ms"] = f"{args.launch_ms + int(row['macs']) / (args.gmacs_per_s * 1e6):.5f}"
    with open(args.output, "w", newline="", encoding="utf-8") as f:
        f.write(f"# pretend device: {args.launch_ms} ms per block + MACs at {args.gmacs_per_s} GMAC/s\n")
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} blocks -> {args.output}")


if __name__ == "__main__":
    main()
