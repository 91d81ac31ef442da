"""The model zoo's structure and STDC's detail loss (generic model checks are in conformance/test_models.py)."""

from __future__ import annotations

import pytest
import torch

from gasnas.errors import CheckpointError, ConfigError
from gasnas.options import parse_options
from gasnas.runtime.macs import count
from gasnas_plugins.models.backbones.resnet import ResNet
from gasnas_plugins.models.backbones.stdc import STDCModule, STDCNet
from gasnas_plugins.models.backbones.xception import Xception
from gasnas_plugins.models.bisenetv1 import bisenetv1_r18, bisenetv1_xception39
from gasnas_plugins.models.bisenetv2 import BiSeNetV2, bisenetv2
from gasnas_plugins.models.detail_loss import DetailAggregationLoss
from gasnas_plugins.models.options import BiSeNetV1Options, BiSeNetV2Options, STDCOptions
from gasnas_plugins.models.stdc import stdc1, stdc2


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_resnet18_has_torchvisions_parameter_count_without_its_classifier():
    assert n_params(ResNet((2, 2, 2, 2))) == 11_689_512 - 513_000  # torchvision resnet18 minus its 512x1000 fc


def test_backbone_stages_and_widths_follow_the_papers():
    xception = Xception((4, 8, 4))
    assert [len(s) for s in xception.stages] == [4, 8, 4] and xception.channels == (64, 128, 256)
    for layers, name in (((2, 2, 2), "STDC1"), ((4, 5, 3), "STDC2")):
        net = STDCNet(layers)
        assert [len(s) for s in net.stages] == list(layers), name
        assert net.channels == (256, 512, 1024)
    module = STDCModule(256, 256)
    assert [c.conv.out_channels for c in module.convs] == [128, 64, 32, 32]
    assert [c.conv.kernel_size for c in module.convs] == [(1, 1), (3, 3), (3, 3), (3, 3)]
    shapes = [f.shape[1:] for f in STDCNet((2, 2, 2))(torch.zeros(1, 3, 64, 128))]
    assert shapes == [(256, 8, 16), (512, 4, 8), (1024, 2, 4)]


def test_bisenetv2_branches():
    net = BiSeNetV2(3)
    assert [len(s) for s in (net.semantic.s3, net.semantic.s4, net.semantic.s5)] == [2, 2, 4]
    stages = net.semantic(torch.zeros(2, 3, 64, 128))
    assert [tuple(s.shape[1:]) for s in stages] == [(16, 16, 32), (32, 8, 16), (64, 4, 8), (128, 2, 4), (128, 2, 4)]
    assert net.detail(torch.zeros(1, 3, 64, 128)).shape == (1, 128, 8, 16)


@pytest.mark.parametrize("build", [bisenetv1_r18, bisenetv1_xception39, bisenetv2, stdc1, stdc2])
def test_counts_leave_out_training_only_heads(build):
    model = build(19)
    heads = [p for n, p in model.named_parameters() if n.startswith(model.training_only)]
    counts = count(model, (1, 3, 64, 128))
    assert heads and counts.params == n_params(model) - sum(p.numel() for p in heads)


def test_checkpoint_with_aux_heads_loads_into_a_model_without_them(tmp_path):
    path = tmp_path / "stdc1.pt"
    torch.save({"model": stdc1(4).state_dict()}, path)  # a trainer's checkpoint mapping works too
    lean = stdc1(4, STDCOptions(aux_heads=False, detail_head=False, weights=str(path)))
    assert lean.detail_head is None and len(lean.aux_heads) == 0
    torch.save(stdc1(4, STDCOptions(aux_heads=False)).state_dict(), path)
    assert len(stdc1(4, STDCOptions(weights=str(path))).aux_heads) == 2


def test_bisenetv1_r18_loads_torchvisions_resnet18_weights_into_its_backbone(tmp_path):
    from torchvision_resnet import BATCHES_TRACKED, resnet18_features, resnet18_state

    state = resnet18_state()
    path = tmp_path / "resnet18.pt"
    torch.save(state, path)
    model = bisenetv1_r18(4, BiSeNetV1Options(weights=str(path))).eval()  # strict: the whole backbone is filled
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        for ours, theirs in zip(model.backbone(x), resnet18_features(state, x), strict=True):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert int(model.backbone.stem[0].bn.num_batches_tracked) == BATCHES_TRACKED

    del state["layer4.1.bn2.running_var"]
    state["layer5.0.conv1.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"torchvision-resnet layout into backbone\): missing keys: "
                                              r"backbone.stages.3.1.conv2.bn.running_var; unexpected keys: layer5"):
        bisenetv1_r18(4, BiSeNetV1Options(weights=str(path)))


def test_options_are_checked_before_building():
    with pytest.raises(ConfigError, match="branches of equal width"):
        parse_options(BiSeNetV2Options, {"detail_channels": [64, 64, 96]})
    assert parse_options(BiSeNetV1Options, {"head_channels": 32}).head_channels == 32


def test_detail_ground_truth_marks_label_boundaries():
    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    labels[:, :, 8:] = 1
    target = DetailAggregationLoss().targets(labels)
    assert target.shape == (1, 1, 16, 16)
    # Stride 1 marks column 8 (the higher label's side); stride 2, upsampled, adds column 9. As in the official
    # code the Laplacian pads with zeros, so the label-1 region's image border counts as detail too (column 15).
    interior = target[0, 0, 4:12]
    expected = torch.tensor([0.0] * 8 + [1, 1] + [0] * 5 + [1])
    assert torch.equal(interior, expected.expand_as(interior))
    assert DetailAggregationLoss().targets(torch.full((1, 8, 8), 3)).sum() > 0  # borders only
    assert DetailAggregationLoss().targets(torch.zeros(1, 8, 8, dtype=torch.long)).sum() == 0


def test_detail_loss_is_small_for_a_perfect_prediction_and_large_for_its_opposite():
    loss = DetailAggregationLoss()
    labels = torch.zeros(2, 16, 16, dtype=torch.long)
    labels[:, 4:12, 4:12] = 2
    target = loss.targets(labels)
    perfect = loss(20 * (2 * target - 1), labels)
    wrong = loss(-20 * (2 * target - 1), labels)
    assert set(perfect) == {"detail_bce", "detail_dice"}
    assert perfect["detail_bce"] < 1e-6 and perfect["detail_dice"] < 0.05
    assert wrong["detail_bce"] > 10 and wrong["detail_dice"] > 0.9


def test_stdc_loss_has_main_aux_and_detail_terms():
    model = stdc1(3).train()
    x, target = torch.randn(2, 3, 64, 64), torch.randint(0, 3, (2, 64, 64))
    terms = model.loss(model(x), target, torch.nn.CrossEntropyLoss())
    assert set(terms) == {"ce", "aux0", "aux1", "detail_bce", "detail_dice"}
    weighted = stdc1(3, STDCOptions(aux_weight=0.5, detail_weight=0.0)).train()
    terms = weighted.loss(weighted(x), target, torch.nn.CrossEntropyLoss())
    assert terms["detail_bce"] == 0 and terms["detail_dice"] == 0


def test_backbone_costs_match_the_numbers_they_are_known_by():
    # STDCNet813 / STDCNet1446 are named after their ImageNet MFLOPs (MACs) at 224x224, classifier included:
    # a 1x1 conv to 1024 channels at 7x7, then 1024 -> 1024 -> 1000 fully connected layers.
    classifier = 1024 * 1024 * 49 + 1024 * 1024 + 1024 * 1000
    for layers, named in (((2, 2, 2), 813e6), ((4, 5, 3), 1446e6)):
        macs = count(STDCNet(layers), (1, 3, 224, 224)).conv_macs + classifier
        assert abs(macs / named - 1) < 0.01, (layers, macs)
    assert abs(count(ResNet(), (1, 3, 224, 224)).conv_macs / 1.81e9 - 1) < 0.01  # torchvision: 1.81 GFLOPS


def test_dynamic_size_onnx_export_follows_the_input_size():
    import numpy as np

    from gasnas.runtime.export import export_onnx
    from gasnas.runtime.timing import ort_session

    model = bisenetv2(3).eval()
    session, _ = ort_session(export_onnx(model, (1, 3, 64, 128), dynamic_batch=True, dynamic_size=True), "cpu",
                             threads=1)
    x = torch.randn(2, 3, 100, 200)
    (out,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        assert np.abs(out - model(x).numpy()).max() < 1e-3


def test_fasterseg_student_follows_the_verified_description_and_its_options():
    from gasnas_plugins.models.fasterseg import fasterseg
    from gasnas_plugins.models.options import FasterSegOptions
    from gasnas_plugins.spaces.fasterseg.network import FasterSegNetwork

    model = fasterseg(19)
    assert isinstance(model, FasterSegNetwork) and model.branches == (1, 2)  # branches end at 1/16 and 1/32
    ops = {type(op.convs[0][0]) for op in model.ops.values()}
    assert ops == {torch.nn.Conv2d} and all(op.zoom and len(op.convs) == 2 for op in model.ops.values())
    # 4/12 of 96 / 192 / 384 channels at 1/8, 1/16, 1/32; the stem reaches 1/8 with 96 (48 first)
    widths = {s: {op.convs[-1][0].out_channels for (l, s_), op in zip(model.cells, model.ops.values()) if s_ == s}
              for s in range(3)}
    assert widths == {0: {32}, 1: {64}, 2: {128}}
    assert model.stem[0][0].out_channels == 48 and model.stem[-1][0].out_channels == 96
    # 16 layers; 1/16 reached at layer 2 by both branches, 1/32 at layer 5 from the 1/16 path
    assert [c for c in model.cells if c[1] == 0] == [(0, 0), (1, 0)]
    assert model.sources[(2, 1)] == (1, 0) and model.sources[(5, 2)] == (4, 1) and max(model.cells)[0] == 15
    moved = fasterseg(19, FasterSegOptions(down16=3, down32=9, operation="conv", width=8))
    assert moved.sources[(3, 1)] == (2, 0) and moved.sources[(9, 2)] == (8, 1)
    assert {len(op.convs) for op in moved.ops.values()} == {1}
    for bad, match in (({"down16": 5, "down32": 5}, "down16"), ({"operation": "sep_conv"}, "operation"),
                       ({"width": 5}, "width"), ({"down32": 16}, "layers")):
        with pytest.raises(ConfigError, match=match):
            parse_options(FasterSegOptions, bad)
