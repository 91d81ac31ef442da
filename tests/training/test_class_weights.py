"""Class-weighted cross-entropy: weights from pixel frequencies, and where searches and training use them."""

from __future__ import annotations

import pytest
import torch

from gasnas.api.dataset import class_weights


def test_weights_are_inverse_frequency_powers_with_unit_mean_per_pixel():
    counts = torch.tensor([900, 90, 10])
    freq = counts / counts.sum()
    w = class_weights(counts, 0.5)
    assert float((freq * w).sum()) == pytest.approx(1.0)  # the loss keeps its scale
    assert float(w[1] / w[0]) == pytest.approx((0.9 / 0.09) ** 0.5)
    assert float(w[2] / w[1]) == pytest.approx((0.09 / 0.01) ** 0.5)
    inverse = class_weights(counts, 1.0)
    assert float((freq * inverse).sum()) == pytest.approx(1.0)
    assert float(inverse[0] * freq[0]) == pytest.approx(float(inverse[2] * freq[2]))  # every class weighs the same


def test_power_zero_is_plain_cross_entropy_and_absent_classes_get_the_largest_weight():
    assert class_weights([5, 5], 0.0) is None
    w = class_weights([100, 10, 0], 0.5)
    assert float(w[2]) == float(w[1]) == float(w.max())
    with pytest.raises(ValueError, match="no labelled pixel"):
        class_weights([0, 0], 0.5)


def test_training_and_searches_weigh_the_loss_by_the_train_split(tiny_fcn, train_yaml, pm, tmp_path, monkeypatch):
    from gasnas.run import RunDirectory
    from gasnas_plugins.training.config import load_train_config
    from gasnas_plugins.training.trainer import Trainer

    config = load_train_config("tiny-fcn", train_yaml(epochs=1), pm=pm)
    trainer = Trainer(config, RunDirectory(tmp_path / "run"), pm=pm)
    trainer._build()
    expected = class_weights(trainer.dataset.class_counts("train"), 0.5)
    assert torch.allclose(trainer.criterion.weight, expected)
    plain = load_train_config("tiny-fcn", train_yaml(epochs=1), overrides=["train.class_weight_power=0"], pm=pm)
    trainer = Trainer(plain, RunDirectory(tmp_path / "plain"), pm=pm)
    trainer._build()
    assert trainer.criterion.weight is None
