"""What the latency tests share: a gas space small enough to time in a test."""

from __future__ import annotations

import pytest

from gasnas_plugins.spaces.gas.options import GasSpaceOptions
from gasnas_plugins.spaces.gas.space import GasSearchSpace


@pytest.fixture
def space():
    return GasSearchSpace(GasSpaceOptions(cells=3, nodes=2, channels=8, stem_channels=(8, 8, 8), reductions=(1,),
                                          head_channels=16))
