"""``gasnas export CHECKPOINT --format onnx``: ONNX export, verified against torch in ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import click

from gasnas.api import threads_option
from gasnas_plugins.commands.shapes import parse_shape

__all__ = ["export"]


@click.command("export")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="Export format.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file (default: model.onnx next to the checkpoint).")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset (17 or newer).")
@click.option("--input", "input_shape", metavar="NxCxHxW",
              help="Export input shape (default: 1x3xHxW at the dataset's input size).")
@click.option("--dynamic-batch", is_flag=True, help="Make the batch axis symbolic.")
@click.option("--dynamic-size", is_flag=True, help="Make the height and width axes symbolic.")
@click.option("--tolerance", type=click.FloatRange(0, 1e6, min_open=True), default=1e-4, show_default=True,
              help="Largest allowed absolute difference between ONNX Runtime's and torch's logits, as a share of "
                   "the largest absolute logit (at least 1).")
@threads_option
def export(checkpoint: Path, fmt: str, output: Path | None, opset: int, input_shape: str | None,
           dynamic_batch: bool, dynamic_size: bool, tolerance: float, threads: int | None) -> None:
    """Export CHECKPOINT (best.pt, or a training run directory) to ONNX and verify it.

    The exported graph runs in ONNX Runtime on random inputs (also at another batch and size when those axes
    are dynamic) and its logits are compared with torch's; the file is written only when the largest absolute
    difference is within --tolerance times the largest absolute logit (at least 1).
    """
    from gasnas.api import console, table
    from gasnas.api import GasnasError
    from gasnas.api import atomic_write_bytes
    from gasnas.api import get_plugin_manager
    from gasnas.api import choose_threads, export_onnx
    from gasnas_plugins.training.checkpoint import load_trained

    pm = get_plugin_manager()
    computing = choose_threads(threads).apply()
    trained = load_trained(checkpoint)
    model = trained.build(pm)
    shape = parse_shape(input_shape) or (1, 3, *trained.input_size)
    data = export_onnx(model, shape, opset=opset, dynamic_batch=dynamic_batch, dynamic_size=dynamic_size)
    checks = [shape]
    if dynamic_batch:
        checks.append((shape[0] + 1, *shape[1:]))
    if dynamic_size:
        checks.append((shape[0], shape[1], _other(shape[2]), _other(shape[3])))
    diffs = [(s, *verify_onnx(model, data, s, threads=computing.count)) for s in checks]
    rows = [(f"max abs difference at {'x'.join(map(str, s))}", f"{d:.3g} (largest |logit| {scale:.3g})")
            for s, d, scale in diffs]
    allowed = tolerance * max(1.0, *(scale for _, _, scale in diffs))
    worst = max(d for _, d, _ in diffs)
    if not worst <= allowed:  # also catches NaN
        console.print(table("ONNX check failed", ["", ""], rows))
        raise GasnasError(f"{checkpoint}: the ONNX graph differs from torch by up to {worst:.3g}, above the allowed "
                          f"{allowed:.3g} (--tolerance {tolerance:g} of the largest logit); nothing was written. Try "
                          "another --opset, or report the network's operations that export wrongly")
    path = output or trained.path.with_name("model.onnx")
    atomic_write_bytes(path, data)
    rows = [("file", str(path)), ("format", f"ONNX opset {opset}"), ("size", f"{len(data) / 2**20:.2f} MiB"),
            ("input", f"{'x'.join(map(str, shape))}" + _dynamic(dynamic_batch, dynamic_size)), *rows,
            ("allowed difference", f"{allowed:.3g} (--tolerance {tolerance:g} of the largest logit)"),
            ("checked with", str(computing))]
    console.print(table(f"exported {trained.spec.describe()}", ["", ""], rows))


def _other(side: int) -> int:
    """Another spatial size for checking dynamic axes: half, rounded up to a multiple of 32 (at least 32)."""
    return max(32, (side // 2 + 31) // 32 * 32)


def _dynamic(batch: bool, size: bool) -> str:
    axes = [name for name, on in (("batch", batch), ("height, width", size)) if on]
    return f" (dynamic {' and '.join(axes)})" if axes else ""


def verify_onnx(model, onnx_bytes: bytes, shape: tuple[int, ...], seed: int = 0, *,
                threads: int | None = None) -> tuple[float, float]:
    """The largest absolute difference between ONNX Runtime's and torch's outputs on a random input, and the
    largest absolute output of torch (the scale the difference is judged against); ONNX Runtime computes with
    ``threads`` CPU threads (None: its default)."""
    import numpy as np
    import torch

    from gasnas.api import ort_session

    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    session, _ = ort_session(onnx_bytes, "cpu", threads=threads)
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    scale = float(np.abs(expected).max())
    if got.shape != expected.shape:
        return float("inf"), scale
    return float(np.abs(got - expected).max()), scale
