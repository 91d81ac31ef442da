"""examples/custom_space: a search space written from scratch, searched by both native strategies."""

from __future__ import annotations

import random

import pytest
import torch

from examples_support import require_installed


@pytest.fixture
def space():
    require_installed("encdec")
    from encdec_space.space import EncDecSpace

    return EncDecSpace()


def test_registered_with_both_capabilities(pm):
    require_installed("encdec")
    assert pm.registry("search spaces").get("encdec").traits["capabilities"] == {"supernet", "sampling"}
    assert {"differentiable", "evolution"} <= set(pm.registry("strategies").names())


def test_edge_normalisation_is_refused_clearly(space):
    from gasnas.api.space import supernet_of
    from gasnas.errors import IncompatibleComponentsError

    with pytest.raises(IncompatibleComponentsError, match=r"strategy.params.edge_normalization: true\): its "
                                                          r"blocks form a chain"):
        supernet_of(space, 3, edge_normalization=True)


def test_a_single_path_of_the_supernet_is_the_built_network(space):
    torch.manual_seed(0)
    supernet = space.build_supernet(5).eval()
    for seed in range(3):
        sample = space.random_sample(random.Random(seed))
        net = space.build(sample, 5).eval()
        shared = {}  # the supernet's weights of the chosen candidates, under the stand-alone network's names
        for name, tensor in supernet.state_dict().items():
            parts = name.split(".")
            k = parts[1] if len(parts) > 1 else ""
            if parts[0] == "encoder" and parts[2] != f"{sample[f'stage{k}/block']}@{sample[f'stage{k}/width']}":
                continue
            if parts[0] == "fusions":
                k = len(space.options.stages) - 2 - int(parts[1])  # the decoder fuses the deepest skip first
                if parts[2] != sample[f"stage{k}/skip"]:
                    continue
            if parts[0] in ("encoder", "fusions"):
                parts = parts[:2] + parts[3:]
            shared[".".join(parts)] = tensor
        net.load_state_dict(shared)
        x = torch.randn(1, 3, 64, 128)
        with torch.no_grad():
            assert torch.allclose(net(x), supernet(x, supernet.mixing_for(sample)), atol=1e-5)
        assert supernet.derive(supernet.mixing_for(sample), 1)[0][0] == sample


def test_expected_latency_of_a_one_hot_mixing_is_the_network_latency(space):
    from gasnas_plugins.latency.flops import FlopsEstimator

    estimator = FlopsEstimator()
    shape = (1, 3, 64, 128)
    expected = estimator.expected(space, shape)
    supernet = space.build_supernet(19)
    for seed in range(3):
        sample = space.random_sample(random.Random(seed))
        one_hot = float(expected(supernet.mixing_for(sample)))
        assert one_hot == pytest.approx(estimator.estimate(space, sample, shape), rel=1e-5)
