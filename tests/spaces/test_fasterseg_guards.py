"""FasterSeg's derivation guards (no all-skip run at a scale, no skip as a downsampling, a cap on skips) and its
head choice by accuracy and latency, on supernets whose architecture weights favour skip."""

from __future__ import annotations

import random

import pytest
import torch

from gasnas.errors import ConfigError
from gasnas.options import parse_options
from gasnas_plugins.spaces.fasterseg.guards import Guards, branch_path, head_objective, skip_cap
from gasnas_plugins.spaces.fasterseg.network import HEAD, choose_head, op_label
from gasnas_plugins.spaces.fasterseg.options import OPS, FasterSegSpaceOptions, resolve
from gasnas_plugins.spaces.fasterseg.space import FasterSegSearchSpace

#: fixed inputs: the 1/16 branch is (0,0) (1,0) (2,1) (3,1); the 1/32 branch is (0,0) (1,1) (2,2) (3,2)
INPUTS = {"layer2/scale1/input": "down", "layer3/scale1/input": "keep", "layer3/scale2/input": "keep"}


def skip_favoured(space: FasterSegSearchSpace, skip: dict[str, float] | None = None, runner_up: str = "conv_2x",
                  inputs: dict[str, str] | None = None) -> dict[str, torch.Tensor]:
    """Mixing probabilities under which every cell's most probable operation is skip (``skip[label]``, default
    0.8), then ``runner_up``; ``inputs`` (default :data:`INPUTS`) at 0.9; widths uniform."""
    inputs = INPUTS if inputs is None else inputs
    probs = {}
    for choice in space.build_supernet(3).relaxed_choices():
        n = len(choice.candidates)
        if choice.key.endswith("/op"):
            p = skip.get(choice.key, 0.8) if skip else 0.8
            w = torch.full((n,), (1 - p - 0.15) / (n - 2))
            w[choice.candidates.index("skip")] = p
            w[choice.candidates.index(runner_up)] = 0.15
        elif choice.key in inputs:
            w = torch.full((n,), 0.1 / (n - 1))
            w[choice.candidates.index(inputs[choice.key])] = 0.9
        else:
            w = torch.full((n,), 1.0 / n)
        probs[choice.key] = w
    return probs


def ops_on(space: FasterSegSearchSpace, sample: dict, branch: int) -> list[str]:
    return [sample[op_label(*c)] for c in branch_path(space.spec, sample, branch)]


def test_without_guards_skip_favouring_weights_derive_an_all_skip_network():
    space = FasterSegSearchSpace(FasterSegSpaceOptions(derive_guards=False))
    (sample, _), = space.build_supernet(3).derive(skip_favoured(space))
    assert ops_on(space, sample, 1) == ops_on(space, sample, 2) == ["skip"] * 4
    assert space.guard_violations(sample) == []  # guards off: nothing to report
    guarded = FasterSegSearchSpace(FasterSegSpaceOptions())
    assert len(guarded.guard_violations(sample)) == 7  # 3 downsampling skips, 2 all-skip runs, 2 caps over


def test_guards_hold_on_a_supernet_whose_weights_favour_skip():
    space = FasterSegSearchSpace(FasterSegSpaceOptions())  # fasterseg-tiny: L = 4
    assert (skip_cap(space.spec, space.guards, 1), skip_cap(space.spec, space.guards, 2)) == (1, 0)  # 4-1-2b
    # (0,0) is the surer skip: the 1/16 branch's cap of one keeps it and replaces (1,0); the 1/32 branch's cap
    # of zero then replaces (0,0) as well
    probs = skip_favoured(space, {"layer0/scale0/op": 0.84, "layer1/scale0/op": 0.82})
    derived = space.build_supernet(3).derive(probs, top_k=3)
    assert len(derived) == 3 and derived[0][1] >= derived[1][1] >= derived[2][1]
    for sample, _ in derived:
        assert space.guard_violations(sample) == []
    best = derived[0][0]
    assert ops_on(space, best, 1) == ["conv_2x"] * 4 and ops_on(space, best, 2) == ["conv_2x"] * 4
    assert all(best[k] == v for k, v in INPUTS.items())  # the guards change operations only


def test_the_cap_keeps_the_surest_skips_and_the_run_rule_replaces_the_least_sure():
    space = FasterSegSearchSpace(FasterSegSpaceOptions(layers=6, max_skips=2))
    inputs = {"layer2/scale1/input": "down", "layer3/scale1/input": "keep", "layer4/scale1/input": "keep",
              "layer5/scale1/input": "keep"}
    inputs.update({f"layer{l}/scale2/input": "keep" for l in range(3, 6)})  # 1/32: (0,0) (1,1) (2,2) (3..5,2)
    # 1/16 branch: (0,0) (1,0) (2,1)down (3,1) (4,1) (5,1); the run at 1/16 is (3,1) (4,1) (5,1)
    sure = {"layer0/scale0/op": 0.70, "layer1/scale0/op": 0.71, "layer3/scale1/op": 0.83,
            "layer4/scale1/op": 0.72, "layer5/scale1/op": 0.82}
    (sample, _), = space.build_supernet(3).derive(skip_favoured(space, sure, inputs=inputs))
    assert space.guard_violations(sample) == []
    # the run rule replaces (4,1), the least sure of the run; the cap of 2 keeps (3,1) and (5,1), the surest left
    assert ops_on(space, sample, 1) == ["conv_2x", "conv_2x", "conv_2x", "skip", "conv_2x", "skip"]
    # 1/32 branch: its run (3,2) (4,2) (5,2) of equally sure skips loses the last; two skips are within the cap
    assert ops_on(space, sample, 2) == ["conv_2x", "conv_2x", "conv_2x", "skip", "skip", "conv_2x"]


def test_downsampling_skips_may_be_allowed_and_the_cap_is_an_option():
    options = FasterSegSpaceOptions(skip_on_downsampling=True, max_skips=3)
    space = FasterSegSearchSpace(options)
    (sample, _), = space.build_supernet(3).derive(skip_favoured(space))
    assert space.guard_violations(sample) == []
    for branch in (1, 2):  # the run at the branch's last scale is one cell: its skip is replaced, the rest kept
        assert ops_on(space, sample, branch) == ["skip", "skip", "skip", "conv_2x"]


@pytest.mark.parametrize("options", [FasterSegSpaceOptions(), FasterSegSpaceOptions(preset="fasterseg-paper"),
                                     FasterSegSpaceOptions(head_choice=True, max_skips=1)])
def test_random_samples_hold_the_guards(options):
    space = FasterSegSearchSpace(options)
    rng = random.Random(0)
    samples = [space.random_sample(rng) for _ in range(20)]
    for sample in samples:
        space.validate(sample)
        assert space.guard_violations(sample) == []
    unguarded = FasterSegSearchSpace(FasterSegSpaceOptions(**{**options.__dict__, "derive_guards": False}))
    rng = random.Random(0)
    assert any(space.guard_violations(unguarded.random_sample(rng)) for _ in range(20))


def test_violations_name_the_cells_and_branches():
    space = FasterSegSearchSpace(FasterSegSpaceOptions(max_skips=3))
    sample = {**space.random_sample(random.Random(0)), **INPUTS}
    sample.update({op_label(*c): "conv" for c in space.grid})
    sample.update({"layer2/scale1/op": "skip", "layer3/scale2/op": "skip"})
    assert space.guard_violations(sample) == [
        "branch 1/16: layer2/scale1/op is a skip on a downsampling cell",
        "branch 1/32: every cell it keeps at 1/32 is a skip (layer3/scale2/op)"]


def test_head_choice_by_fastersegs_accuracy_latency_objective():
    assert head_objective(0.7, 10.0, 8.3) == pytest.approx(0.7 * (10 / 8.3) ** -0.07)
    space = FasterSegSearchSpace(FasterSegSpaceOptions(head_choice=True))
    assert space.choices()[HEAD].values == ["1/8+1/32", "1/16+1/32"]
    supernet = space.build_supernet(3)
    probs = skip_favoured(space)
    probs[HEAD] = torch.tensor([0.7, 0.3])
    (first, _), = supernet.derive(probs)
    assert first[HEAD] == "1/8+1/32"  # no evidence yet: the head's own weight decides
    candidates = supernet.head_candidates(probs)
    assert set(candidates) == {"1/8+1/32", "1/16+1/32"}
    for head, sample in candidates.items():
        assert sample[HEAD] == head and space.guard_violations(sample) == []
    # 1/8+1/32 is a point more accurate but twice as slow: acc x lat^-0.07 prefers 1/16+1/32 (0.6165 > 0.5957)
    evidence = {"1/8+1/32": (0.70, 10.0), "1/16+1/32": (0.69, 5.0)}
    chosen = choose_head(supernet, probs, lambda s: evidence[s[HEAD]][0], lambda s: evidence[s[HEAD]][1])
    assert chosen == "1/16+1/32"
    ranked = supernet.derive(probs, top_k=4)
    assert ranked[0][0][HEAD] == "1/16+1/32" and ranked[0][0] == candidates["1/16+1/32"]
    assert [s[HEAD] for s, _ in ranked].count("1/16+1/32") >= 1
    with pytest.raises(ValueError, match="unknown head"):
        supernet.record_head("1/4+1/32", 0.5, 1.0)


def test_head_choice_supernet_mixes_heads_and_computes_each_extracted_network():
    space = FasterSegSearchSpace(FasterSegSpaceOptions(head_choice=True))
    supernet = space.build_supernet(3).eval()
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        for p in supernet.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for head in ("1/8+1/32", "1/16+1/32"):
            sample = {**space.random_sample(random.Random(1)), HEAD: head}
            net = space.build(sample, 3).eval()
            assert net.branches == space.spec.head_names()[head]
            assert torch.allclose(supernet(x, supernet.mixing_for(sample)), supernet.extract(sample).eval()(x),
                                  atol=1e-5)
        uniform = {c.key: torch.full((len(c.candidates),), 1 / len(c.candidates))
                   for c in supernet.relaxed_choices()}
        assert supernet(x, uniform).shape == (1, 3, 64, 128)


def test_guard_and_head_options_are_checked():
    with pytest.raises(ConfigError, match="head_choice"):
        parse_options(FasterSegSpaceOptions, {"head_choice": True, "branches": [0, 1]})
    with pytest.raises(ConfigError, match="nothing to replace"):
        parse_options(FasterSegSpaceOptions, {"ops": ["skip"]})
    assert resolve(parse_options(FasterSegSpaceOptions, {"ops": ["skip"], "derive_guards": False})).ops == ("skip",)
    with pytest.raises(ConfigError, match="max_skips"):
        parse_options(FasterSegSpaceOptions, {"max_skips": -1})
    assert Guards().enabled and resolve(FasterSegSpaceOptions(head_choice=True)).heads == ((0, 2), (1, 2))
    assert set(OPS) == set(resolve(FasterSegSpaceOptions()).ops)


def test_a_differentiable_search_chooses_the_head_by_the_objective(gas_config):
    from gasnas.config import load_config
    from gasnas.engine import Engine
    from gasnas.reporting import NullReporter
    from gasnas_plugins.spaces.fasterseg.guards import best_head

    overrides = ["space.name=fasterseg", "space.params={layers: 3, channels: 8, stem_channels: 8, head_channels: 8, "
                 "ops: [skip, conv], widths: [6, 12], head_choice: true}", "communicator.name=none",
                 "latency.name=flops", "latency.params={}", "latency.measure=null",
                 "strategy.params={warmup_epochs: 1, top_k: 2, val_batches: 1, derivation: argmax}",
                 "budget.epochs=2", "budget.steps_per_epoch=1"]
    engine = Engine(load_config(gas_config, overrides), reporter=NullReporter())
    result = engine.run()
    supernet = engine.strategy.supernet
    assert set(supernet.head_evidence) == {"1/8+1/32", "1/16+1/32"}  # both heads' derived networks measured
    assert all(latency > 0 for _, latency in supernet.head_evidence.values())
    assert result.best.sample[HEAD] == best_head(supernet.head_evidence, supernet.head_exponent)
