"""Conformance of every registered model: a model is tested the moment it registers.

Eval mode returns one logits tensor at input size (what ONNX export sees); training mode may add auxiliary
logits, all at input size; the loss trains every weight; ONNX Runtime agrees with torch; a state dict saved
from a model loads back through the ``weights`` option. Inputs are 1x3x64x128 (2x3x64x128 in training, since
BatchNorm on globally pooled features needs more than one value per channel).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from gasnas.api.model import as_output, segmentation_loss
from gasnas.errors import CheckpointError
from gasnas.plugins import PluginManager

NUM_CLASSES = 5
SHAPE = (1, 3, 64, 128)
MODELS = [pytest.param(c, id=c.name) for c in PluginManager().registry("models")]


def build(comp, num_classes: int = NUM_CLASSES, **changes) -> nn.Module:
    options = comp.default_options()
    if changes:
        options = dataclasses.replace(options, **changes)
    torch.manual_seed(0)
    return comp.build(num_classes, options)


def has_option(comp, name: str) -> bool:
    return comp.options is not None and name in {f.name for f in dataclasses.fields(comp.options)}


@pytest.mark.parametrize("comp", MODELS)
def test_eval_mode_returns_logits_at_input_size(comp):
    model = build(comp).eval()
    with torch.no_grad():
        out = model(torch.randn(SHAPE))
    assert isinstance(out, torch.Tensor), "eval mode must return the logits tensor only"
    assert out.shape == (1, NUM_CLASSES, *SHAPE[2:])
    with torch.no_grad():  # a size that is no multiple of the output stride still gives input-size logits
        assert model(torch.randn(1, 3, 50, 100)).shape == (1, NUM_CLASSES, 50, 100)


@pytest.mark.parametrize("comp", MODELS)
def test_training_mode_outputs_and_loss_train_every_weight(comp):
    model = build(comp).train()
    x, target = torch.randn(2, *SHAPE[1:]), torch.randint(0, NUM_CLASSES, (2, *SHAPE[2:]))
    target[:, :4] = 255
    out = as_output(model(x))
    assert out.logits.shape == (2, NUM_CLASSES, *SHAPE[2:])
    for aux in out.aux:
        assert aux.shape == (2, NUM_CLASSES, *SHAPE[2:])
    if has_option(comp, "aux_heads"):
        assert bool(out.aux) == comp.default_options().aux_heads, "auxiliary heads run in training mode"
    total, parts = segmentation_loss(model, model(x), target, nn.CrossEntropyLoss(ignore_index=255))
    assert torch.isfinite(total) and all(np.isfinite(v) for v in parts.values())
    total.backward()
    untrained = [n for n, p in model.named_parameters() if p.grad is None and "loss" not in n.split(".")[0]]
    assert not untrained, f"parameters the training loss never reaches: {untrained[:5]}"


@pytest.mark.parametrize("comp", [m for m in MODELS if has_option(m.values[0], "aux_heads")])
def test_without_aux_heads_training_returns_main_logits_only(comp):
    model = build(comp, aux_heads=False).train()
    out = as_output(model(torch.randn(2, *SHAPE[1:])))
    assert out.aux == [] and not any(".aux" in n or n.startswith("aux") for n, _ in model.named_parameters())


@pytest.mark.parametrize("comp", MODELS)
def test_onnx_export_matches_torch(comp):
    from gasnas.runtime.export import export_onnx
    from gasnas.runtime.timing import ort_session

    model = build(comp).eval()
    data = export_onnx(model, SHAPE)
    session, _ = ort_session(data, "cpu", threads=1)
    assert [o.name for o in session.get_outputs()] == ["logits"], "training-only heads must not be exported"
    x = torch.randn(SHAPE)
    (onnx_out,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        torch_out = model(x).numpy()
    scale = max(1.0, float(np.abs(torch_out).max()))
    np.testing.assert_allclose(onnx_out, torch_out, rtol=1e-3, atol=1e-4 * scale)


@pytest.mark.parametrize("comp", [m for m in MODELS if has_option(m.values[0], "weights")])
def test_weights_option_loads_a_state_dict_and_rejects_bad_files(comp, tmp_path):
    trained = build(comp).train()
    with torch.no_grad():  # move BN statistics away from their initial values
        trained(torch.randn(2, *SHAPE[1:]))
    path = tmp_path / "weights.pt"
    torch.save(trained.state_dict(), path)
    loaded = build(comp, weights=str(path)).eval()
    x = torch.randn(SHAPE)
    with torch.no_grad():
        assert torch.equal(loaded(x), trained.eval()(x))

    with pytest.raises(CheckpointError, match="does not exist"):
        build(comp, weights=str(tmp_path / "missing.pt"))
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt.pt cannot be read"):
        build(comp, weights=str(tmp_path / "corrupt.pt"))
    with pytest.raises(CheckpointError, match=r"weights.pt does not fit .*shape mismatches"):
        build(comp, NUM_CLASSES + 1, weights=str(path))
