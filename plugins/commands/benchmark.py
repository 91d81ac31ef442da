"""``gasnas benchmark TARGET``: latency and FPS of a network in torch eager mode or ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import click

from gasnas.api import threads_option
from gasnas_plugins.commands.shapes import parse_shape

__all__ = ["benchmark"]

DEFAULT_INPUT = (1, 3, 1024, 2048)


@click.command("benchmark")
@click.argument("target")
@click.option("--input", "input_shape", metavar="NxCxHxW",
              help="Input shape (default: a checkpoint's dataset input size, else 1x3x1024x2048).")
@click.option("--runtime", type=click.Choice(["torch", "onnxruntime"]), default="torch", show_default=True,
              help="torch eager mode, or ONNX Runtime on the exported graph.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--dtype", type=click.Choice(["fp32", "fp16"]), default="fp32", show_default=True,
              help="Precision (fp16 needs CUDA).")
@click.option("--warmup", type=click.IntRange(0, 10**7), default=10, show_default=True, help="Untimed calls first.")
@click.option("--repeats", type=click.IntRange(1, 10**7), default=50, show_default=True, help="Timed calls.")
@threads_option
@click.option("--num-classes", type=click.IntRange(1, 100_000), default=19, show_default=True,
              help="Output classes of a model name or architecture file (a checkpoint knows its own).")
@click.option("--json", "json_file", type=click.Path(path_type=Path), help="Also write the results to this file.")
def benchmark(target: str, input_shape: str | None, runtime: str, device: str, dtype: str, warmup: int,
              repeats: int, threads: int | None, num_classes: int, json_file: Path | None) -> None:
    """Time TARGET: a training checkpoint (or run directory), an architecture file or a registered model.

    Reports the median latency with p90 and p99 over --repeats calls after --warmup untimed ones, the FPS, and
    how it was measured: runtime, device, thread count and ONNX Runtime execution provider.
    """
    import json

    from gasnas.api import console, table, warning_rows
    from gasnas.api import choose_threads, resolve_device
    from gasnas.api import LatencyError
    from gasnas.api import atomic_write_text
    from gasnas.api import get_plugin_manager
    from gasnas_plugins.training.network import is_checkpoint_target, resolve_target

    if warmup < 0 or repeats < 1 or (threads is not None and threads < 1) or num_classes < 1:
        raise click.BadParameter("--warmup must be >= 0; --repeats, --threads and --num-classes >= 1")
    pm = get_plugin_manager()
    shape = parse_shape(input_shape)
    if is_checkpoint_target(target):
        from gasnas_plugins.training.checkpoint import load_trained

        trained = load_trained(target)
        model, what = trained.build(pm), trained.spec.describe()
        shape = shape or (1, 3, *trained.input_size)
    else:
        spec = resolve_target(target, pm)
        model, what = spec.build(num_classes, pm).eval(), spec.describe()
        shape = shape or DEFAULT_INPUT
    dev = str(resolve_device(device))
    if dtype == "fp16" and not dev.startswith("cuda"):
        raise LatencyError("fp16 timing needs a CUDA device; use --dtype fp32 on CPU")
    computing = choose_threads(threads)
    console.print(f"timing {what} at {'x'.join(map(str, shape))} ({runtime}, {dev}, {dtype}, {computing})",
                  soft_wrap=True, markup=False)
    timing = _time(model, shape, runtime, dev, dtype, warmup, repeats, computing.count)
    rows = [("network", what), ("input", "x".join(map(str, shape))), ("runtime", timing.runtime),
            ("device", timing.device), ("dtype", dtype), ("threads", timing.threads),
            ("provider", timing.provider), ("warm-up / timed calls", f"{timing.warmup} / {timing.repeats}"),
            ("median", f"{timing.median_ms:.3f} ms"), ("p90", f"{timing.p90_ms:.3f} ms"),
            ("p99", f"{timing.p99_ms:.3f} ms"), ("mean", f"{timing.mean_ms:.3f} ms"),
            ("min", f"{timing.min_ms:.3f} ms"), ("max", f"{timing.max_ms:.3f} ms"),
            ("spread (max / min)", f"{timing.spread:.2f}x"), ("FPS (median)", f"{timing.fps:.1f}")]
    warnings = [w for w in (timing.spread_warning(),) if w is not None]
    rows += warning_rows(warnings)
    console.print(table("benchmark" + (" (unsteady)" if warnings else ""), ["", ""], rows))
    if json_file is not None:
        atomic_write_text(json_file, json.dumps({"network": what, "input": list(shape), "dtype": dtype,
                                                 **timing.to_dict(), "warnings": warnings}, indent=2))
        console.print(f"wrote {json_file}")


def _time(model, shape, runtime: str, device: str, dtype: str, warmup: int, repeats: int, threads: int | None):
    import torch

    from gasnas.api import time_onnxruntime, time_torch

    if runtime == "torch":
        return time_torch(model, shape, device=device, dtype=dtype, warmup=warmup, repeats=repeats, threads=threads)
    from gasnas.api import export_onnx

    torch_dtype = torch.float16 if dtype == "fp16" else torch.float32
    model = model.to(device, torch_dtype)
    onnx_model = export_onnx(model, shape, dtype=torch_dtype)
    return time_onnxruntime(onnx_model, shape, device=device, dtype=dtype, warmup=warmup, repeats=repeats,
                            threads=threads)
