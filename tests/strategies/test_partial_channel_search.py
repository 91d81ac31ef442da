"""The differentiable strategy's ``partial_channels``: a search over a gas supernet with K = 2, and the clear
error of a space that cannot do it, from a config."""

from __future__ import annotations

from pathlib import Path

import pytest

from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import IncompatibleComponentsError
from gasnas.reporting import NullReporter

FAST = ["budget.epochs=2", "budget.steps_per_epoch=2", "latency.name=flops", "latency.params={}",
        "latency.measure=null", "communicator.name=none"]


def _search(config: Path, *overrides: str):
    engine = Engine(load_config(config, list(overrides)), reporter=NullReporter())
    return engine, engine.run()


@pytest.mark.parametrize("relaxation", ["softmax", "hard_gumbel"])
def test_a_gas_search_runs_with_half_the_channels_through_the_mixed_operations(gas_config, relaxation):
    engine, result = _search(gas_config, *FAST, f"strategy.params={{partial_channels: 2, relaxation: {relaxation}, "
                                                "warmup_epochs: 1, top_k: 2, val_batches: 1}")
    for cell in engine.strategy.supernet.cells:  # every edge's convolutions see half the cell's width
        width = cell.pre1.conv[0].out_channels
        for edge in cell.edges.values():
            assert edge.groups == 2 and edge.ops[edge.names.index("conv_3x3")][0].in_channels * 2 == width
    assert len(result.architectures) == 2
    for arch in result.architectures:
        engine.space.validate(arch.sample)


def test_a_width_k_does_not_divide_is_a_clear_error(gas_config):
    with pytest.raises(IncompatibleComponentsError, match="partial_channels 3 must divide every cell's width"):
        _search(gas_config, *FAST, "strategy.params.partial_channels=3")
