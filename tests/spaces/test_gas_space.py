from __future__ import annotations

import random

import pytest
import torch

from gasnas.errors import ConfigError
from gasnas.mutable import SampleValidationError
from gasnas.options import parse_options
from gasnas_plugins.spaces.gas.options import OPS, GasSpaceOptions, resolve
from gasnas_plugins.spaces.gas.space import GasSearchSpace

SMALL = GasSpaceOptions(cells=3, nodes=2, channels=8, stem_channels=(8, 8, 8), reductions=(1,), head_channels=16)


def test_labels_follow_nni_cell_format_and_cells_are_independent():
    space = GasSearchSpace(SMALL)
    labels = list(space.choices())
    assert len(labels) == 3 * 2 * 2 * 2  # cells x nodes x slots x (op, input)
    assert "cell0/op_2_0" in labels and "cell2/input_3_1" in labels
    assert space.choices()["cell1/input_3_0"].values == [0, 1, 2]
    assert "zero" not in space.choices()["cell0/op_2_0"].values
    assert set(space.choices()["cell0/op_2_0"].values) == set(OPS) - {"zero"}


def test_random_samples_are_valid_and_build_networks():
    space = GasSearchSpace(SMALL)
    sample = space.random_sample(random.Random(1))
    space.validate(sample)
    net = space.build(sample, 5).eval()
    assert net(torch.randn(2, 3, 32, 64)).shape == (2, 5, 32, 64)
    assert net(torch.randn(1, 3, 37, 70)).shape == (1, 5, 37, 70)  # odd sizes resize back exactly
    with pytest.raises(SampleValidationError, match="not a choice"):
        space.validate({**sample, "cell0/op_2_0": "conv_5x5"})
    with pytest.raises(SampleValidationError, match="misses"):
        space.build({k: v for k, v in sample.items() if k != "cell0/op_2_0"}, 5)


def test_presets_and_bad_options():
    assert resolve(GasSpaceOptions()).cells == 5
    paper = resolve(GasSpaceOptions(preset="gas-paper"))
    assert paper.output_stride == 8 and paper.head == "aspp"
    assert resolve(GasSpaceOptions(cells=7)).cells == 7  # explicit fields override the preset
    with pytest.raises(ConfigError, match="reductions \\[9\\] must be distinct cell indices"):
        parse_options(GasSpaceOptions, {"reductions": [9]}, ("space", "params"))
    with pytest.raises(ConfigError, match="unknown operation"):
        parse_options(GasSpaceOptions, {"ops": ["zero", "conv_9x9"]}, ("space", "params"))
    with pytest.raises(ConfigError, match="stem stride"):
        parse_options(GasSpaceOptions, {"output_stride": 32, "reductions": [1]}, ("space", "params"))


def test_supernet_single_path_equals_the_extracted_network():
    torch.manual_seed(0)
    space = GasSearchSpace(SMALL)
    supernet = space.build_supernet(4).eval()
    sample = space.random_sample(random.Random(3))
    x = torch.randn(2, 3, 32, 64)
    with torch.no_grad():
        through_supernet = supernet(x, supernet.mixing_for(sample))
        standalone = supernet.extract(sample).eval()(x)
    assert torch.allclose(through_supernet, standalone, atol=1e-5)


def test_supernet_relaxed_forward_and_gradients_reach_every_mixing_weight():
    space = GasSearchSpace(SMALL)
    supernet = space.build_supernet(4)
    choices = supernet.relaxed_choices()
    assert len(choices) == 3 * (2 + 3) and {c.group for c in choices} == {"cell0", "cell1", "cell2"}
    mixing = {c.key: torch.full((len(c.candidates),), 1 / 8, requires_grad=True) for c in choices}
    supernet(torch.randn(2, 3, 32, 64), mixing).pow(2).mean().backward()
    zero = OPS.index("zero")
    for w in mixing.values():
        assert w.grad is not None and w.grad[zero] == 0 and w.grad.abs().sum() > 0


def test_derivation_keeps_two_strongest_edges_with_their_best_non_zero_op():
    space = GasSearchSpace(SMALL)
    supernet = space.build_supernet(4)
    probs = {}
    for c in supernet.relaxed_choices():
        p = torch.full((8,), 0.1)
        p[OPS.index("zero")] = 0.5  # zero is strongest but never kept
        if c.key.endswith("edge_2_0") or c.key.endswith("edge_3_2"):
            p[OPS.index("sep_conv_3x3")] = 0.4
        if c.key.endswith("edge_2_1") or c.key.endswith("edge_3_1"):
            p[OPS.index("dil_sep_conv_3x3_4")] = 0.3
        probs[c.key] = p / p.sum()
    ranked = supernet.derive(probs, top_k=4)
    best, score = ranked[0]
    space.validate(best)
    assert best["cell0/op_2_0"] == "sep_conv_3x3" and best["cell0/input_2_0"] == [0]
    assert best["cell0/op_2_1"] == "dil_sep_conv_3x3_4" and best["cell0/input_2_1"] == [1]
    assert best["cell2/input_3_0"] == [1] and best["cell2/input_3_1"] == [2]
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True) and len({str(sorted(a.items())) for a, _ in ranked}) == 4


@pytest.mark.parametrize("kind", ["uniform", "ties", "random"])
def test_the_argmax_derivation_is_the_first_of_the_ranked_ones(kind):
    """derive(probs, 1) takes a shortcut past the enumeration; it must give the same sample (ties included)."""
    space = GasSearchSpace(SMALL)
    supernet = space.build_supernet(4)
    torch.manual_seed(0)
    probs = {}
    for c in supernet.relaxed_choices():
        n = len(c.candidates)
        probs[c.key] = {"uniform": torch.full((n,), 1 / n), "ties": torch.randint(1, 3, (n,)).float(),
                        "random": torch.rand(n)}[kind]
    (fast, fast_score), = supernet.derive(probs, 1)
    (ranked, ranked_score), *_ = supernet.derive(probs, 2)
    assert fast == ranked and fast_score == pytest.approx(ranked_score)


def test_cost_terms_describe_blocks_that_run_at_their_shapes():
    space = GasSearchSpace(SMALL)
    relaxed = space.cost_terms((1, 3, 32, 64), num_classes=4)
    keyed = [t for t in relaxed if t.key]
    assert len(keyed) == 15 and all(len(t.candidates) == 8 for t in keyed)
    assert {t.weight for t in keyed} == {1.0, 2 / 3}
    sample = space.random_sample(random.Random(0))
    concrete = space.cost_terms((1, 3, 32, 64), sample, num_classes=4)
    assert all(len(t.candidates) == 1 and t.key is None for t in concrete)
    assert len([t for t in concrete if t.group.startswith("cell")]) == 3 + 3 * 4  # fixed + 2 ops per node
    blocks = {b.signature: b for t in relaxed for c in t.candidates for b in c}
    for block in blocks.values():
        with torch.no_grad():
            block.factory().eval()(*[torch.randn(*s) for s in block.input_shapes])


def test_render_writes_one_picture_per_cell(tmp_path):
    space = GasSearchSpace(SMALL)
    paths = space.render(space.random_sample(random.Random(0)), tmp_path)
    assert [p.name for p in paths] == ["cell0.png", "cell1.png", "cell2.png"]
    assert all(p.stat().st_size > 5000 for p in paths)


def test_fingerprint_depends_on_the_resolved_space():
    assert GasSearchSpace(SMALL).fingerprint() == GasSearchSpace(SMALL).fingerprint()
    assert GasSearchSpace(SMALL).fingerprint() != GasSearchSpace().fingerprint()
