"""The ``fasterseg`` space as an NNI ModelSpace: the same labels and values, and ``freeze(sample)`` is the network
``build(sample)`` makes; NNI's DARTS searches it through the nni strategy."""

from __future__ import annotations

import random

import pytest
import torch

from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.reporting import NullReporter
from gasnas_plugins.nni_support import available
from gasnas_plugins.spaces.fasterseg.options import FasterSegSpaceOptions
from gasnas_plugins.spaces.fasterseg.space import FasterSegSearchSpace
from nni_fixtures import nni_plugins  # noqa: F401 - a fixture

pytestmark = [pytest.mark.nni, pytest.mark.skipif(not available(), reason="needs the nni extra: gasnas[nni]"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning:nni.nas.nn.pytorch.layers")]


@pytest.mark.parametrize("options", [FasterSegSpaceOptions(), FasterSegSpaceOptions(head_choice=True, widths=(4, 12))])
def test_nni_form_has_the_labels_and_freezes_to_the_built_network(options):
    from nni.nas.nn.pytorch import ModelSpace

    from gasnas_plugins.spaces.fasterseg.model_space import FasterSegModelSpace

    space = FasterSegSearchSpace(options)
    nni_space = space.nni_model_space(4)
    assert isinstance(nni_space, FasterSegModelSpace) and isinstance(nni_space, ModelSpace)
    simplified = nni_space.simplify()
    assert sorted(simplified) == sorted(space.choices())
    for label, choice in space.choices().items():
        assert list(simplified[label].values) == list(choice.values), label
    x = torch.randn(1, 3, 64, 128)
    for seed in range(3):
        sample = space.random_sample(random.Random(seed))
        frozen, built = nni_space.freeze(sample).eval(), space.build(sample, 4).eval()
        # the same cells in the same order: copying the frozen weights over by position gives the same function
        mine, theirs = built.state_dict(), frozen.state_dict()
        assert [t.shape for t in mine.values()] == [t.shape for t in theirs.values()]
        with torch.no_grad():
            for p in frozen.parameters():
                p.add_(0.1 * torch.randn_like(p))
            built.load_state_dict(dict(zip(mine, frozen.state_dict().values())))
            assert torch.allclose(frozen(x), built(x), atol=1e-5)
        assert len(frozen.cells) == len(built.cells) < len(space.grid)  # only the branches' paths


@pytest.mark.slow
def test_nni_darts_searches_the_fasterseg_space(tmp_path, rectangles, nni_plugins):
    config = tmp_path / "fasterseg.yaml"
    config.write_text(f"""\
seed: 0
threads: 1
output: {tmp_path / 'runs'}
dataset: {{name: rectangles}}
space: {{name: fasterseg, params: {{preset: fasterseg-tiny, channels: 8, stem_channels: 8, head_channels: 8}}}}
strategy: {{name: nni, params: {{algorithm: DARTS, val_batches: 1}}}}
latency: {{name: flops}}
evaluator: {{name: test-miou}}
budget: {{epochs: 1, batch_size: 4, steps_per_epoch: 1}}
""")
    engine = Engine(load_config(config, []), reporter=NullReporter())
    result = engine.run()
    engine.space.validate(result.best.sample)
    assert result.best.metadata["nni_strategy"] == "DARTS" and result.best.metadata["estimated_latency"] > 0
