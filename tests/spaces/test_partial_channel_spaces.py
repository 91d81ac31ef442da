"""Partial channels (PC-DARTS' K) through the space contract: gas's mixed edge by hand, dcnas's mapping onto its
channel sampling, and the clear errors of the spaces that cannot do it."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from gasnas.api.space import supernet_of
from gasnas.errors import IncompatibleComponentsError
from gasnas.options import parse_options
from gasnas_plugins.spaces.dcnas.options import DcnasSpaceOptions
from gasnas_plugins.spaces.dcnas.space import DcnasSearchSpace
from gasnas_plugins.spaces.gas.cells import MixedOp
from gasnas_plugins.spaces.gas.options import OPS, GasSpaceOptions
from gasnas_plugins.spaces.gas.space import GasSearchSpace
from top_k_fixtures import TINY_GAS


def _gas(**params) -> GasSearchSpace:
    return GasSearchSpace(parse_options(GasSpaceOptions, {**TINY_GAS, **params}))


def _weights(n: int, active: list[int]) -> torch.Tensor:
    w = torch.zeros(n)
    w[active] = torch.rand(len(active)) + 0.1
    return w


@pytest.mark.parametrize("stride", [1, 2])
def test_one_group_is_the_full_mixed_operation(stride):
    torch.manual_seed(0)
    edge = MixedOp(OPS, 8, stride, groups=1).eval()
    active = [0, 1, 3, 4, 7]
    w = _weights(len(OPS), active)
    x = torch.randn(2, 8, 6, 6)
    by_hand = sum(w[i] * edge.ops[i](x) for i in active)
    assert torch.equal(edge(x, w, active), by_hand)


@pytest.mark.parametrize("stride", [1, 2])
def test_two_groups_mix_the_first_half_and_interleave_the_bypassed_half(stride):
    torch.manual_seed(0)
    edge = MixedOp(OPS, 8, stride, groups=2).eval()
    assert all(p.shape[0] in (4, 1) for p in edge.parameters())  # the candidates are built 4 channels wide
    active = [1, 2, 3, 5]
    w = _weights(len(OPS), active)
    x = torch.randn(2, 8, 6, 6)
    mixed = sum(w[i] * edge.ops[i](x[:, :4]) for i in active)
    bypassed = nn.MaxPool2d(2, 2)(x[:, 4:]) if stride == 2 else x[:, 4:]  # PC-DARTS' max pool across a stride
    out = edge(x, w, active)
    assert out.shape == (2, 8, 6 // stride, 6 // stride)
    for c in range(4):  # the shuffle: channel 2c from the mixed half, 2c + 1 from the bypassed one
        assert torch.equal(out[:, 2 * c], mixed[:, c])
        assert torch.equal(out[:, 2 * c + 1], bypassed[:, c])


def test_a_reduction_edge_keeps_the_operations_size_on_odd_inputs():
    edge = MixedOp(OPS, 8, 2, groups=4)
    assert edge(torch.randn(1, 8, 7, 5), torch.ones(len(OPS)), range(len(OPS))).shape == (1, 8, 4, 3)


def test_a_gas_supernet_with_partial_channels_runs_and_keeps_its_choices():
    space = _gas()
    full, half = space.build_supernet(3), supernet_of(space, 3, 2)
    assert [c.key for c in half.relaxed_choices()] == [c.key for c in full.relaxed_choices()]
    assert {e.groups for cell in half.cells for e in cell.edges.values()} == {2}
    assert sum(p.numel() for p in half.parameters()) < sum(p.numel() for p in full.parameters())
    uniform = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates)) for c in half.relaxed_choices()}
    assert half(torch.randn(2, 3, 32, 48), uniform).shape == (2, 3, 32, 48)
    sample = space.random_sample(random.Random(0))
    assert space.build(sample, 3)(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)  # derived: full width
    with pytest.raises(IncompatibleComponentsError, match="partial channels .* retrain the derived network"):
        half.extract(sample)


def test_gas_needs_k_to_divide_every_cell_width():
    with pytest.raises(IncompatibleComponentsError, match=r"partial_channels 3 must divide every cell's width in "
                                                          r"search space gas, but cell 0 has 8 channels"):
        _gas().build_supernet(3, partial_channels=3)


def test_dcnas_maps_k_onto_its_channel_sampling_and_refuses_a_disagreeing_space_option():
    edges = lambda net: {e.groups for cell in net.cells.values() for e in cell.edges.values()}  # noqa: E731
    assert edges(DcnasSearchSpace(DcnasSpaceOptions()).build_supernet(3)) == {1}
    assert edges(DcnasSearchSpace(DcnasSpaceOptions()).build_supernet(3, partial_channels=2)) == {2}
    agreeing = DcnasSearchSpace(DcnasSpaceOptions(channel_fraction=0.5))
    assert edges(agreeing.build_supernet(3, partial_channels=2)) == edges(agreeing.build_supernet(3)) == {2}
    with pytest.raises(IncompatibleComponentsError, match=r"partial_channels 4 .* disagrees with "
                                                          r"space.params.channel_fraction 0.5 of search space dcnas"):
        agreeing.build_supernet(3, partial_channels=4)
    with pytest.raises(IncompatibleComponentsError, match="partial_channels 3 must divide the cell widths .*"
                                                          "channels is 8"):
        DcnasSearchSpace(DcnasSpaceOptions()).build_supernet(3, partial_channels=3)


def test_fasterseg_refuses_partial_channels_clearly():
    from gasnas_plugins.spaces.fasterseg.options import FasterSegSpaceOptions
    from gasnas_plugins.spaces.fasterseg.space import FasterSegSearchSpace

    space = FasterSegSearchSpace(FasterSegSpaceOptions())
    with pytest.raises(IncompatibleComponentsError, match=r"search space FasterSegSearchSpace cannot build a "
                                                          r"supernet with partial channels \(strategy.params."
                                                          r"partial_channels: 2\)"):
        space.build_supernet(3, partial_channels=2)


def test_nni_spaces_refuse_partial_channels_clearly():
    from gasnas_plugins.nni_support import available

    if not available():
        pytest.skip("needs the nni extra: gasnas[nni]")
    from gasnas_plugins.spaces.nni import NniSpaceOptions
    from gasnas_plugins.spaces.nni.adapter import NniSearchSpace

    space = NniSearchSpace(NniSpaceOptions(space="nni_spaces:AllPrimitives"))
    with pytest.raises(IncompatibleComponentsError, match="cannot build a supernet with partial channels .* "
                                                          "arbitrary modules"):
        space.build_supernet(3, partial_channels=2)


class _OldSpace(GasSearchSpace):
    """A third-party space written before the keyword: ``build_supernet(num_classes)`` only."""

    def build_supernet(self, num_classes: int):  # type: ignore[override]
        return super().build_supernet(num_classes)


def test_a_space_without_the_keyword_builds_with_k_1_and_refuses_more_clearly():
    space = _OldSpace(parse_options(GasSpaceOptions, TINY_GAS))
    assert supernet_of(space, 3, 1).relaxed_choices()
    with pytest.raises(IncompatibleComponentsError, match=r"search space _OldSpace cannot build a supernet with "
                                                          r"partial channels \(strategy.params.partial_channels: 2\): "
                                                          r"its build_supernet takes no partial_channels"):
        supernet_of(space, 3, 2)
