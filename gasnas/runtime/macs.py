"""Counting the multiply-accumulates (MACs) and parameters of a network's inference path.

:func:`count` runs the network once in eval mode -- by default on the ``meta`` device, so nothing is computed and
a 1024x2048 input costs no time -- and counts every ATen operator it dispatches (a ``TorchDispatchMode``). So
functional calls (``F.interpolate``, ``x * attention``, ``torch.cat``) count like modules do, and only what the
eval-mode forward runs counts: auxiliary, booster and detail heads that run in training only are left out.

Conventions (one MAC = one multiply-accumulate; ``Counts.by_op`` keeps the kinds apart):

- ``conv``: every output element of a convolution takes ``C_in / groups x k_h x k_w`` MACs; stride and
  dilation change the output size, not the per-output cost; a bias adds one per output element (as ptflops
  counts it). Transposed convolutions: every *input* element scatters ``C_out / groups x k_h x k_w``.
- ``linear``: ``mm``, ``addmm``, ``bmm``, ``baddbmm``: ``n x k x m`` per matrix product, plus one per output
  element for an added bias or input.
- ``norm``: batch / layer / group / instance norm in eval: one per element (a scale and a shift).
- ``pool``: average pooling ``k_h x k_w`` per output element; global (adaptive to 1x1) or ``mean``: one per
  input element; max pooling: none (comparisons only).
- ``upsample``: bilinear 4 per output element, bicubic 16, nearest none.
- ``elementwise``: add, sub, mul, div of tensors: one per output element. Activations count none.

Parameters are those the inference path reads (each once), so training-only heads do not count either.
Papers usually report ``conv + linear`` only: that is :attr:`Counts.conv_macs`.
"""

from __future__ import annotations

import copy
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["Counts", "count", "MacCounter"]

log = logging.getLogger(__name__)
aten = torch.ops.aten


@dataclass(frozen=True)
class Counts:
    """MACs and parameters of a network's inference path at one input shape."""

    macs: int
    params: int
    by_op: dict[str, int] = field(default_factory=dict)
    input_shape: tuple[int, ...] = ()

    @property
    def conv_macs(self) -> int:
        """MACs of convolutions and matrix products only: what papers usually report as FLOPs or MACs."""
        return self.by_op.get("conv", 0) + self.by_op.get("linear", 0)

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def mparams(self) -> float:
        return self.params / 1e6

    def to_dict(self) -> dict:
        return {"macs": self.macs, "conv_macs": self.conv_macs, "params": self.params, "by_op": dict(self.by_op),
                "input_shape": list(self.input_shape)}


def _numel(shape: Iterable[int]) -> int:
    return math.prod(int(s) for s in shape)


def _conv(args: tuple, out: Tensor) -> int:
    x, weight, bias = args[0], args[1], args[2]
    transposed = bool(args[6]) if len(args) > 6 else False
    kernel = _numel(weight.shape[2:])
    if transposed:  # weight: C_in x C_out/groups x k...
        macs = x.numel() * weight.shape[1] * kernel
    else:  # weight: C_out x C_in/groups x k...
        macs = out.numel() * weight.shape[1] * kernel
    return macs + (out.numel() if bias is not None else 0)


def _mm(args: tuple, out: Tensor) -> int:
    a, b = args[0], args[1]
    return _numel(a.shape) * b.shape[-1]


def _addmm(args: tuple, out: Tensor) -> int:
    return _mm(args[1:], out) + out.numel()


def _bmm(args: tuple, out: Tensor) -> int:
    a, b = args[0], args[1]
    return _numel(a.shape) * b.shape[-1]


def _baddbmm(args: tuple, out: Tensor) -> int:
    return _bmm(args[1:], out) + out.numel()


def _per_input(args: tuple, out: Tensor) -> int:
    return args[0].numel()


def _per_output(args: tuple, out: Tensor) -> int:
    return out.numel()


def _avg_pool(args: tuple, out: Tensor) -> int:
    kernel = list(args[1])
    dims = out.dim() - 2
    return out.numel() * _numel(kernel * dims if len(kernel) == 1 else kernel)


def _times(n: int) -> Callable[[tuple, Tensor], int]:
    return lambda args, out: n * out.numel()


#: ATen overload packet -> (kind, MACs of one call)
RULES: dict[object, tuple[str, Callable[[tuple, Tensor], int]]] = {
    aten.convolution: ("conv", _conv),
    aten._convolution: ("conv", _conv),
    aten.mm: ("linear", _mm),
    aten.addmm: ("linear", _addmm),
    aten.bmm: ("linear", _bmm),
    aten.baddbmm: ("linear", _baddbmm),
    aten.native_batch_norm: ("norm", _per_input),
    aten._native_batch_norm_legit_no_training: ("norm", _per_input),
    aten._native_batch_norm_legit: ("norm", _per_input),
    aten.native_layer_norm: ("norm", _per_input),
    aten.native_group_norm: ("norm", _per_input),
    aten.avg_pool1d: ("pool", _avg_pool),
    aten.avg_pool2d: ("pool", _avg_pool),
    aten.avg_pool3d: ("pool", _avg_pool),
    aten._adaptive_avg_pool2d: ("pool", _per_input),
    aten.adaptive_avg_pool2d: ("pool", _per_input),
    aten.mean: ("pool", _per_input),
    aten.upsample_bilinear2d: ("upsample", _times(4)),
    aten.upsample_bicubic2d: ("upsample", _times(16)),
    aten.add: ("elementwise", _per_output),
    aten.add_: ("elementwise", _per_output),
    aten.sub: ("elementwise", _per_output),
    aten.sub_: ("elementwise", _per_output),
    aten.mul: ("elementwise", _per_output),
    aten.mul_: ("elementwise", _per_output),
    aten.div: ("elementwise", _per_output),
    aten.div_: ("elementwise", _per_output),
}


class MacCounter(TorchDispatchMode):
    """Counts MACs per kind of every ATen op run under it, and the parameters those ops read."""

    def __init__(self, params: Iterable[nn.Parameter] = ()) -> None:
        super().__init__()
        self.by_op: Counter[str] = Counter()
        self._params = {id(p): p for p in params}
        self._used: dict[int, nn.Parameter] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - the dispatch protocol
        out = func(*args, **(kwargs or {}))
        rule = RULES.get(func.overloadpacket)
        if rule is not None:
            kind, macs = rule
            self.by_op[kind] += int(macs(tuple(args), out[0] if isinstance(out, (tuple, list)) else out))
        for a in args:
            if isinstance(a, Tensor) and id(a) in self._params:
                self._used[id(a)] = self._params[id(a)]
        return out

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self._used.values())


def _run(model: nn.Module, input_shapes: list[tuple[int, ...]], device: str) -> MacCounter:
    counter = MacCounter(model.parameters())
    xs = [torch.zeros(*shape, device=device) for shape in input_shapes]
    with torch.no_grad(), counter:
        model(*xs)
    return counter


def count(model: nn.Module, input_shape: tuple[int, ...] | Sequence[tuple[int, ...]], *,
          device: str = "meta") -> Counts:
    """MACs and parameters of ``model``'s eval-mode forward on an input of ``input_shape`` (or, for a module
    with several inputs, on inputs of a list of shapes).

    ``device="meta"`` (default) counts on a copy on the meta device, computing nothing; a model whose forward
    needs real values (data-dependent control flow) is then counted on the CPU instead. ``device="cpu"`` runs
    the model itself (its train/eval mode is restored afterwards).
    """
    shapes = [tuple(int(d) for d in input_shape)] if isinstance(input_shape[0], int) else \
        [tuple(int(d) for d in s) for s in input_shape]
    input_shape = shapes[0] if len(shapes) == 1 else tuple(shapes)
    if device == "meta":
        try:
            counter = _run(copy.deepcopy(model).eval().to("meta"), shapes, "meta")
        except (NotImplementedError, RuntimeError) as exc:
            log.info("counting %s on the meta device failed (%s); counting on the CPU", type(model).__name__, exc)
            return count(model, input_shape, device="cpu")
    else:
        was_training = model.training
        try:
            counter = _run(model.eval(), shapes, device)
        finally:
            model.train(was_training)
    by_op = {k: v for k, v in sorted(counter.by_op.items())}
    return Counts(sum(by_op.values()), counter.params, by_op, input_shape)
