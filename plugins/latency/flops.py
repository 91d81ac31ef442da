"""The ``flops`` estimator: MACs counted analytically per block, no timing -- the cheap proxy.

Each block is counted once by the project's MAC counter (on the meta device: nothing is computed), so
``estimate`` is in GMACs and the expectation over relaxed choices is differentiable like the lookup table's.
``gasnas latency check`` shows how well MACs rank measured latency on a device.
"""

from __future__ import annotations

from gasnas.api import LatencyError, count_macs as count
from gasnas.api.latency import LatencyEnv
from gasnas.api.space import Block
from gasnas_plugins.latency import FlopsOptions
from gasnas_plugins.latency.block import BlockEstimator

__all__ = ["FlopsEstimator"]


class FlopsEstimator(BlockEstimator):
    """GMACs of the inference path (and parameters, through :meth:`params`)."""

    unit = "GMACs"

    def __init__(self, options: FlopsOptions | None = None, env: LatencyEnv | None = None) -> None:
        super().__init__(options or FlopsOptions(), env)
        self._counts: dict[str, tuple[int, int]] = {}

    def _count(self, block: Block) -> tuple[int, int]:
        if block.signature not in self._counts:
            try:
                counts = count(block.factory(), block.input_shapes)
            except Exception as exc:  # noqa: BLE001
                raise LatencyError(f"cannot count the MACs of block {block.signature}: "
                                   f"{type(exc).__name__}: {exc}") from exc
            macs = counts.conv_macs if self.options.count == "conv" else counts.macs
            self._counts[block.signature] = (macs, counts.params)
        return self._counts[block.signature]

    def block_cost(self, block: Block) -> float:
        return self._count(block)[0] / 1e9

    def params(self, space, sample, input_shape) -> int:
        """Parameters of the network of ``sample`` (blocks counted once each place they appear)."""
        terms = self.terms(space, input_shape, sample)
        return sum(self._count(b)[1] for t in terms for b in t.candidates[0])

    def describe(self) -> str:
        return f"flops: {'convolution and matrix' if self.options.count == 'conv' else 'all'} MACs (GMACs)"
