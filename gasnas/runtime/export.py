"""Export a network to ONNX (TorchScript-based exporter, opset >= 17) and check it against torch."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from gasnas.errors import GasnasError

__all__ = ["export_onnx", "MIN_OPSET"]

MIN_OPSET = 17


def _shapes(input_shape: tuple[int, ...] | Sequence[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """One shape, or a list of shapes for a module with several inputs."""
    return [tuple(input_shape)] if isinstance(input_shape[0], int) else [tuple(s) for s in input_shape]


def export_onnx(model: nn.Module, input_shape: tuple[int, ...] | Sequence[tuple[int, ...]],
                path: str | Path | None = None, *,
                opset: int = MIN_OPSET, dynamic_batch: bool = False, dynamic_size: bool = False,
                dtype: torch.dtype = torch.float32) -> bytes:
    """The ONNX bytes of ``model`` in eval mode at ``input_shape`` (also written to ``path`` when given).

    The graph has one input ``input`` (several inputs ``input``, ``input1``, ... when ``input_shape`` is a list of
    shapes) and one output ``logits``; ``dynamic_batch`` / ``dynamic_size`` make those axes symbolic.
    """
    if opset < MIN_OPSET:
        raise GasnasError(f"ONNX opset {opset} is too old; use {MIN_OPSET} or newer")
    model = model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    shapes = _shapes(input_shape)
    inputs = tuple(torch.zeros(*shape, device=device, dtype=dtype) for shape in shapes)
    names = ["input"] + [f"input{i}" for i in range(1, len(shapes))]
    axes: dict[int, str] = {}
    if dynamic_batch:
        axes[0] = "batch"
    if dynamic_size:
        axes.update({2: "height", 3: "width"})
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, inputs, buffer, opset_version=opset, input_names=names, output_names=["logits"],
                          dynamic_axes={n: axes for n in [*names, "logits"]} if axes else None,
                          do_constant_folding=True, dynamo=False)
    data = buffer.getvalue()
    if path is not None:
        from gasnas.io import atomic_write_bytes

        atomic_write_bytes(path, data)
    return data
