from __future__ import annotations

import random

import pytest
import torch

from gasnas.errors import ConfigError
from gasnas.mutable import SampleValidationError
from gasnas.options import parse_options
from gasnas_plugins.spaces.dcnas.cells import Resample, channel_shuffle, sources_of
from gasnas_plugins.spaces.dcnas.network import used_cells
from gasnas_plugins.spaces.dcnas.options import DcnasSpaceOptions, resolve, resolve_sampling
from gasnas_plugins.spaces.dcnas.space import DcnasSearchSpace

TINY = DcnasSpaceOptions()
SHAPE = (1, 3, 64, 128)


def _perturbed(supernet):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in supernet.parameters():  # non-trivial BN statistics and biases as well
            p.add_(0.1 * torch.randn_like(p))
    return supernet


def test_labels_are_nni_style_and_every_cell_reads_every_earlier_cell():
    space = DcnasSearchSpace(TINY)
    assert sources_of((2, 1), 4) == [(-1, 0)] + [(l, s) for l in range(2) for s in range(4)]
    choices = space.choices()
    # layer 0 reads only the stem (one path, no choice); layers 1 and 2 read 5 and 9 paths and keep 2
    assert "layer0/scale0/inputs" not in choices
    assert choices["layer1/scale3/inputs"].values == list(range(5)) and choices["layer1/scale3/inputs"].n_chosen == 2
    assert choices["layer2/scale0/inputs"].values == list(range(9))
    assert choices["layer0/scale2/op_1_0"].values == [op for op in space.spec.ops if op != "zero"]
    assert choices["layer0/scale2/input_2_0"].values == [0, 1]
    assert len(choices) == 8 + 12 * 2 * 2


def test_supernet_under_a_single_path_computes_the_extracted_network():
    space = DcnasSearchSpace(TINY)
    supernet = _perturbed(space.build_supernet(3)).eval()
    x = torch.randn(*SHAPE)
    for seed in range(2):
        sample = space.random_sample(random.Random(seed))
        with torch.no_grad():
            shared = supernet(x, supernet.mixing_for(sample))
            assert torch.allclose(shared, supernet.extract(sample).eval()(x), atol=1e-5)
            other = {**sample, "layer2/scale0/inputs": [0, 8] if sample["layer2/scale0/inputs"] != [0, 8] else [1, 2]}
            assert not torch.allclose(shared, supernet(x, supernet.mixing_for(other)), atol=1e-5)


def test_derive_follows_the_path_and_operation_weights():
    space = DcnasSearchSpace(TINY)
    supernet = space.build_supernet(3)
    target = space.random_sample(random.Random(3))
    probs = {k: 0.1 + 0.8 * w for k, w in supernet.mixing_for(target).items()}
    (best, top), (second, score) = supernet.derive(probs, top_k=2)
    assert best == target and second != target and top > score
    space.validate(second)


def test_canonical_keeps_the_cells_the_head_reaches():
    space = DcnasSearchSpace(TINY)
    sample = space.random_sample(random.Random(0))
    # the last layer reads only the stem and layer 0's cells: layer 1 is unreached
    sample.update({f"layer2/scale{s}/inputs": [0, 1 + s] for s in range(4)})
    assert used_cells(space.spec, sample) == [(0, s) for s in range(4)] + [(2, s) for s in range(4)]
    canonical = space.canonical(sample)
    assert not any(k.startswith("layer1/") for k in canonical) and "layer0/scale3/op_1_0" in canonical
    other = {**sample, "layer1/scale0/op_1_0": "skip_connect" if sample["layer1/scale0/op_1_0"] != "skip_connect"
             else "conv_3x3"}
    assert space.canonical(other) == canonical
    assert "1 up" not in space.describe(sample) and "8 of 12 cells" in space.describe(sample)


@pytest.mark.parametrize("preset", ["dcnas-tiny", "dcnas-paper"])
def test_sampling_on_or_off_derives_the_same_architecture_format(preset):
    options = {"preset": preset, "layers": 3, "channels": 8, "stem_channels": [8, 8], "head_channels": 8}
    dense = DcnasSearchSpace(parse_options(DcnasSpaceOptions, {**options, "sample_paths": 0,
                                                               "channel_fraction": 1}))
    sampled = DcnasSearchSpace(parse_options(DcnasSpaceOptions, {**options, "sample_paths": 2,
                                                                 "channel_fraction": 0.25}))
    assert sampled.sampling.paths == 2 and dense.sampling.paths is None
    assert sampled.fingerprint() == dense.fingerprint()  # the same networks, the same latency table
    a, b = dense.build_supernet(3), sampled.build_supernet(3)
    assert [(c.key, c.candidates) for c in a.relaxed_choices()] == [(c.key, c.candidates) for c in b.relaxed_choices()]
    torch.manual_seed(0)
    probs = {c.key: torch.rand(len(c.candidates)) + 0.01 for c in a.relaxed_choices()}
    assert a.derive(probs, top_k=3) == b.derive(probs, top_k=3)
    sample = b.derive(probs)[0][0]
    sampled.validate(sample)
    assert set(sample) == set(dense.choices())
    assert sum(p.numel() for p in b.parameters()) < sum(p.numel() for p in a.parameters())  # narrower mixed ops


def test_the_sampled_supernet_equals_the_dense_one_when_k_and_the_channel_fraction_are_full():
    full = DcnasSearchSpace(DcnasSpaceOptions(sample_paths=9, channel_fraction=1.0))  # 9: the most paths a cell has
    dense = DcnasSearchSpace(DcnasSpaceOptions(sample_paths=0))
    torch.manual_seed(0)
    a = _perturbed(full.build_supernet(3)).train()
    b = dense.build_supernet(3).train()
    b.load_state_dict(a.state_dict())
    probs = {c.key: torch.softmax(torch.randn(len(c.candidates)), 0) for c in a.relaxed_choices()}
    x = torch.randn(2, 3, 32, 64)
    assert torch.allclose(a(x, probs), b(x, probs), atol=1e-6)
    # with fewer paths than a cell has, a training step runs k paths per cell and differs
    calls = []
    k2 = DcnasSearchSpace(DcnasSpaceOptions(sample_paths=2)).build_supernet(3).train()
    k2.load_state_dict(a.state_dict())
    handles = [m.register_forward_hook(lambda *_: calls.append(1)) for m in k2.modules() if isinstance(m, Resample)]
    alphas = {c.key: torch.randn(len(c.candidates), requires_grad=True) for c in k2.relaxed_choices()}
    out = k2(x, {k: torch.softmax(v, 0) for k, v in alphas.items()})
    for h in handles:
        h.remove()
    assert len(calls) == 4 + 4 * 2 * 2  # layer 0: its only path; layers 1, 2: two of 5 and two of 9
    out.mean().backward()  # the path weights learn their ratio: the drawn pair get gradients, the others none
    drawn = {k: 0 if v.grad is None else int((v.grad.abs() > 1e-3 * v.grad.abs().max()).sum())
             for k, v in alphas.items() if k.endswith("/inputs")}  # (the others: rounding noise)
    assert all(n <= 2 for n in drawn.values())  # (layer 1's cells only when layer 2 ran them)
    assert all(n == 2 for k, n in drawn.items() if k.startswith("layer2/"))
    with torch.no_grad():
        assert not torch.allclose(out, b(x, {k: torch.softmax(v, 0) for k, v in alphas.items()}), atol=1e-4)
        k2.load_state_dict(b.state_dict())  # the same BN statistics (training steps updated them differently)
        k2.eval(), b.eval()  # evaluation runs every path: the dense function
        assert torch.allclose(k2(x, probs), b(x, probs), atol=1e-6)


def test_channel_sampling_runs_a_fraction_of_the_channels_and_shuffles():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    assert torch.equal(channel_shuffle(x, 1), x)
    supernet = DcnasSearchSpace(DcnasSpaceOptions(channel_fraction=0.5)).build_supernet(3)
    edge = supernet.cells["1_2"].edges["2_0"]
    assert edge.active_channels == 16 and edge.groups == 2  # 1/16: 32 channels, half through the operations
    skip = edge.names.index("skip_connect")
    w = torch.zeros(len(edge.names))
    w[skip] = 1.0
    y = torch.randn(1, 32, 4, 4)
    out = edge(y, w, [skip])  # identity on the sampled half, the rest bypassed: a pure channel shuffle
    assert torch.equal(out, channel_shuffle(y, 2))
    with pytest.raises(Exception, match="channel sampling"):
        supernet.extract(DcnasSearchSpace(TINY).random_sample(random.Random(0)))


def test_latency_blocks_cover_every_path_and_operation_a_sample_uses():
    space = DcnasSearchSpace(TINY)
    relaxed = space.cost_terms(SHAPE)
    table = {b.signature for t in relaxed for c in t.candidates for b in c}
    keys = {t.key for t in relaxed if t.key is not None}
    assert {k for k in keys if k.endswith("/inputs")} == {k for k in space.choices() if k.endswith("/inputs")}
    assert {t.weight for t in relaxed if t.key and t.key.endswith("/inputs")} == {2.0}
    for seed in range(5):
        sample = space.random_sample(random.Random(seed))
        terms = space.cost_terms(SHAPE, sample)
        assert all(len(t.candidates) == 1 for t in terms)
        assert {b.signature for t in terms for c in t.candidates for b in c} <= table
    path = next(b for t in relaxed for c in t.candidates for b in c if b.key.startswith("dcnas.resample"))
    module = path.factory().eval()
    with torch.no_grad():
        assert module(*[torch.randn(*s) for s in path.input_shapes]).dim() == 4
    head = next(t for t in relaxed if t.group == "head").candidates[0][0]
    with torch.no_grad():
        assert head.factory().eval()(*[torch.randn(*s) for s in head.input_shapes]).shape == (1, 19, 64, 128)


def test_presets_and_bad_options():
    paper = resolve(DcnasSpaceOptions(preset="dcnas-paper"))
    assert (paper.layers, paper.scales, paper.channels) == (12, 4, 64)
    assert [paper.width(s) for s in range(4)] == [64, 128, 256, 512]
    assert resolve_sampling(DcnasSpaceOptions(preset="dcnas-paper")).channel_fraction == 0.25
    assert resolve_sampling(DcnasSpaceOptions()).paths is None
    with pytest.raises(ConfigError, match="gradient"):
        parse_options(DcnasSpaceOptions, {"sample_paths": 1})
    with pytest.raises(ConfigError, match="1/K"):
        parse_options(DcnasSpaceOptions, {"channel_fraction": 0.3})
    with pytest.raises(ConfigError, match="divisible"):
        parse_options(DcnasSpaceOptions, {"channels": 6, "channel_fraction": 0.25})
    with pytest.raises(ConfigError, match="ops"):
        parse_options(DcnasSpaceOptions, {"ops": ["conv_3x3", "sep_conv_5x5"]})
    with pytest.raises(ConfigError):
        parse_options(DcnasSpaceOptions, {"scales": 5})


def test_invalid_samples_are_refused():
    space = DcnasSearchSpace(TINY)
    sample = space.random_sample(random.Random(0))
    with pytest.raises(SampleValidationError):
        space.validate({**sample, "layer1/scale0/inputs": [0, 5]})
    with pytest.raises(SampleValidationError, match="misses"):
        space.build({k: v for k, v in sample.items() if k != "layer1/scale0/op_1_0"}, 3)


def test_render_draws_the_reached_cells_and_their_paths(tmp_path):
    from gasnas_plugins.spaces.dcnas.network import kept_sources
    from gasnas_plugins.spaces.dcnas.render import paths_figure

    space = DcnasSearchSpace(TINY)
    sample = space.random_sample(random.Random(0))
    (path,) = space.render(sample, tmp_path)
    assert path.name == "paths.png" and path.stat().st_size > 0
    ax = paths_figure(space.spec, sample).axes[0]
    used = used_cells(space.spec, sample)
    arrows = [c for c in ax.get_children() if type(c).__name__ == "Annotation"]
    assert len(arrows) == sum(len(kept_sources(space.spec, c, sample)) for c in used) + space.spec.scales


def test_expected_latency_is_differentiable_in_the_path_and_operation_weights():
    from gasnas.api import ExpectedLatency

    space = DcnasSearchSpace(TINY)
    expected = ExpectedLatency(space.cost_terms(SHAPE), lambda block: float(len(block.key)))  # a cost per block
    supernet = space.build_supernet(3)
    probs = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates), requires_grad=True)
             for c in supernet.relaxed_choices()}
    assert set(expected.keys) == set(probs)
    expected(probs).backward()
    assert all(probs[k].grad.abs().sum() > 0 for k in probs if k.endswith("/inputs"))  # paths of different widths
    # the price of keeping a path is one path's cost, not the term's weighted share
    key = "layer1/scale0/inputs"
    kept = expected.kept_costs()[key]
    term = next(t for t in space.cost_terms(SHAPE) if t.key == key)
    assert kept.tolist() == [float(len(c[0].key)) for c in term.candidates]
