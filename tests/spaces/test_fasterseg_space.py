from __future__ import annotations

import random

import pytest
import torch

from gasnas.errors import ConfigError
from gasnas.mutable import SampleValidationError
from gasnas.options import parse_options
from gasnas_plugins.spaces.fasterseg.options import OPS, WIDTHS, FasterSegSpaceOptions, resolve
from gasnas_plugins.spaces.fasterseg.space import FasterSegSearchSpace

TINY = FasterSegSpaceOptions()


def test_labels_are_nni_style_per_cell_of_the_grid():
    space = FasterSegSearchSpace(TINY)
    labels = list(space.choices())
    # 4 layers: cells (0,0) (1,0) (1,1) (2,0..2) (3,0..2); an input choice only where keep and down both exist
    assert len(labels) == 9 * 2 + 3
    assert {"layer2/scale1/input", "layer3/scale1/input", "layer3/scale2/input"} == {
        label for label in labels if label.endswith("/input")}
    assert space.choices()["layer0/scale0/op"].values == list(OPS)
    assert space.choices()["layer1/scale1/width"].values == list(WIDTHS)
    assert space.choices()["layer3/scale2/input"].values == ["keep", "down"]


def test_supernet_forward_shapes_and_a_derived_sample_builds_a_network_of_the_input_size():
    space = FasterSegSearchSpace(TINY)
    supernet = space.build_supernet(5)
    choices = supernet.relaxed_choices()
    uniform = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates)) for c in choices}
    assert {c.key for c in choices} == set(space.choices())
    assert supernet(torch.randn(2, 3, 64, 128), uniform).shape == (2, 5, 64, 128)
    (sample, _), = supernet.derive(uniform)
    space.validate(sample)
    net = space.build(sample, 5).eval()
    assert net(torch.randn(1, 3, 64, 128)).shape == (1, 5, 64, 128)
    assert net(torch.randn(1, 3, 67, 101)).shape == (1, 5, 67, 101)  # odd sizes resize back exactly


def test_derive_follows_the_mixing_weights():
    space = FasterSegSearchSpace(TINY)
    supernet = space.build_supernet(3)
    target = space.random_sample(random.Random(3))
    probs = {k: 0.1 + 0.8 * w for k, w in supernet.mixing_for(target).items()}
    best, second = supernet.derive(probs, top_k=2)
    assert best[0] == target and second[0] != target and best[1] > second[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_supernet_under_a_single_path_computes_the_extracted_network(seed):
    space = FasterSegSearchSpace(TINY)
    supernet = space.build_supernet(3).eval()
    sample = space.random_sample(random.Random(seed))
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        for p in supernet.parameters():  # non-trivial BN statistics and biases as well
            p.add_(0.1 * torch.randn_like(p))
        shared = supernet(x, supernet.mixing_for(sample))
        standalone = supernet.extract(sample).eval()(x)
    assert torch.allclose(shared, standalone, atol=1e-5)
    # a narrower width changes the function (the mask is not a no-op)
    narrow = {**sample, "layer3/scale2/width": 4 if sample["layer3/scale2/width"] != 4 else 12}
    with torch.no_grad():
        assert not torch.allclose(shared, supernet(x, supernet.mixing_for(narrow)), atol=1e-5)


def test_canonical_drops_the_cells_off_the_branches_paths():
    space = FasterSegSearchSpace(TINY)
    sample = space.random_sample(random.Random(0))
    sample.update({"layer2/scale1/input": "down", "layer3/scale1/input": "keep", "layer3/scale2/input": "keep"})
    # branch 1/16: (3,1) <- (2,1) <- (1,0) <- (0,0); branch 1/32: (3,2) <- (2,2) <- (1,1) <- (0,0)
    canonical = space.canonical(sample)
    assert "layer2/scale0/op" not in canonical and "layer3/scale0/width" not in canonical
    assert "layer1/scale0/op" in canonical and "layer1/scale1/width" in canonical
    other = {**sample, "layer2/scale0/op": "skip" if sample["layer2/scale0/op"] != "skip" else "conv",
             "layer3/scale0/width": 4 if sample["layer3/scale0/width"] != 4 else 12}
    assert space.canonical(other) == canonical
    moved = {**sample, "layer3/scale1/input": "down"}  # now reads (2,0): a different network
    assert space.canonical(moved) != canonical and "layer2/scale0/op" in space.canonical(moved)


def test_latency_blocks_cover_every_op_scale_and_width_a_sample_uses():
    space = FasterSegSearchSpace(TINY)
    shape = (1, 3, 64, 128)
    relaxed = space.cost_terms(shape)
    table = {b.signature for t in relaxed for c in t.candidates for b in c}
    for op in OPS:  # every operation at every scale and width is timed
        for scale in range(3):
            for w in WIDTHS:
                c = space.spec.width(scale, w)
                assert any(s.startswith(f"fasterseg.{op}(") and f",c={c}," in s for s in table), (op, scale, w)
    for seed in range(10):
        sample = space.random_sample(random.Random(seed))
        terms = space.cost_terms(shape, sample)
        assert all(len(t.candidates) == 1 for t in terms)
        assert {b.signature for t in terms for c in t.candidates for b in c} <= table
    keys = {k for t in relaxed for k in t.keys} | {k for t in relaxed for a in t.given for k, _ in a}
    used = {k for seed in range(50) for k in space.canonical(space.random_sample(random.Random(seed)))}
    # every operation, width and input of a cell some network holds is relaxed; (3, 0) reaches no branch's end
    assert used <= keys <= set(space.choices()) and "layer3/scale0/op" not in keys


def test_presets_and_bad_options():
    paper = resolve(FasterSegSpaceOptions(preset="fasterseg-paper"))
    assert (paper.layers, paper.channels, paper.stem_channels) == (16, 96, 48)
    assert [paper.full_width(s) for s in range(3)] == [96, 192, 384]
    assert paper.width(0, 4) == 32
    with pytest.raises(ConfigError, match="branches"):
        parse_options(FasterSegSpaceOptions, {"branches": [2, 1]})
    with pytest.raises(ConfigError, match="layers"):
        parse_options(FasterSegSpaceOptions, {"layers": 2})
    with pytest.raises(ConfigError, match="ops"):
        parse_options(FasterSegSpaceOptions, {"ops": ["conv", "sep_conv"]})
    with pytest.raises(ConfigError):
        parse_options(FasterSegSpaceOptions, {"widths": [5]})


def test_invalid_samples_are_refused():
    space = FasterSegSearchSpace(TINY)
    sample = space.random_sample(random.Random(0))
    with pytest.raises(SampleValidationError, match="not a choice"):
        space.validate({**sample, "layer0/scale0/width": 7})
    with pytest.raises(SampleValidationError, match="misses"):
        space.build({k: v for k, v in sample.items() if k != "layer1/scale0/op"}, 3)


@pytest.mark.parametrize("preset", ["fasterseg-tiny", "fasterseg-paper"])
def test_render_draws_the_paths_with_every_used_operation_in_the_legend(preset, tmp_path):
    from gasnas_plugins.spaces.fasterseg.network import op_label, used_cells
    from gasnas_plugins.spaces.fasterseg.render import paths_figure

    space = FasterSegSearchSpace(FasterSegSpaceOptions(preset=preset))
    sample = space.random_sample(random.Random(0))
    (path,) = space.render(sample, tmp_path)
    assert path.name == "paths.png" and path.stat().st_size > 0
    ax = paths_figure(space.spec, sample).axes[0]
    used = used_cells(space.spec, sample)
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == sorted({sample[op_label(*c)] for c in used})
    assert sum(t.get_text().endswith("/12") for t in ax.texts) == len(used)
