"""Weights people bring: a file read in each of its forms, matched to a network in its own layout or in one a
module inside it declares, loaded strictly or partially, with the keys that do not fit named."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gasnas.api.model import WeightLayout
from gasnas.errors import CheckpointError
from gasnas.run import RunDirectory
from gasnas.weights import load_weights_into, match_weights, read_weights

FLAT = {"w": "conv.weight", "gamma": "bn.weight", "beta": "bn.bias", "mean": "bn.running_mean",
        "var": "bn.running_var"}


def _flat_key(key: str) -> str | None:
    """A foreign layout of :class:`Encoder`: short names, and a classifier it has no use for."""
    return None if key.startswith("classifier.") else FLAT.get(key, key)


class Encoder(nn.Module):
    weight_layouts = (WeightLayout("flat", _flat_key),)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)


class Net(nn.Module):
    training_only = ("aux.",)

    def __init__(self) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.head = nn.Conv2d(4, 2, 1)
        self.aux = nn.Conv2d(4, 2, 1)


def _random_state(model: nn.Module, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v + 3
            for k, v in model.state_dict().items()}


def _flat_state() -> dict[str, torch.Tensor]:
    own = _random_state(Encoder())
    return {**{short: own[key] for short, key in FLAT.items()}, "classifier.weight": torch.ones(10, 4)}


def test_a_state_dict_is_read_in_each_of_its_forms(tmp_path):
    state = _random_state(Net())
    forms = {"raw.pt": state, "nested.pt": {"state_dict": state, "epoch": 3},
             "parallel.pt": {"model": {f"module.{k}": v for k, v in state.items()}}}
    for name, data in forms.items():
        torch.save(data, tmp_path / name)
    RunDirectory(tmp_path).save_checkpoint({"kind": "gasnas-trained/1", "state_dict": state}, tmp_path / "best.pt")
    for name in [*forms, "best.pt"]:
        read = read_weights(tmp_path / name)
        assert read.keys() == state.keys(), name
        assert all(torch.equal(read[k], v) for k, v in state.items()), name


def test_a_file_that_is_no_state_dict_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match=r"train.init .*missing.pt does not exist"):
        read_weights(tmp_path / "missing.pt", label="train.init")
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(CheckpointError, match=r"corrupt.pt cannot be read as a torch state dict"):
        read_weights(tmp_path / "corrupt.pt")
    RunDirectory(tmp_path).save_checkpoint({"state_dict": _random_state(Net())}, tmp_path / "sealed.pt")
    sealed = torch.load(tmp_path / "sealed.pt", weights_only=True)
    sealed["content"][-1] ^= 1  # one flipped bit in the payload
    torch.save(sealed, tmp_path / "sealed.pt")
    with pytest.raises(CheckpointError, match=r"sealed.pt: checksum mismatch"):
        read_weights(tmp_path / "sealed.pt")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match=r"list.pt holds a list, not a state dict of tensors"):
        read_weights(tmp_path / "list.pt")


def test_the_networks_own_layout_loads_strictly_without_training_only_keys_and_counters(tmp_path):
    state = {k: v for k, v in _random_state(Net()).items()
             if not k.startswith("aux.") and not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "own.pt")
    net = Net()
    match = load_weights_into(net, tmp_path / "own.pt")
    assert match.layout.name == "own" and match.complete and sorted(match.tensors) == sorted(state)
    assert match.untouched == 3  # aux.weight, aux.bias and the BatchNorm counter keep their values
    assert all(torch.equal(net.state_dict()[k], v) for k, v in state.items())


def test_a_layout_declared_by_a_submodule_fills_that_submodule(tmp_path):
    state = _flat_state()
    torch.save(state, tmp_path / "flat.pt")
    net = Net()
    head = net.head.weight.detach().clone()
    match = load_weights_into(net, tmp_path / "flat.pt")  # strict: the whole encoder is in the file
    assert (match.layout.name, match.layout.prefix) == ("flat", "encoder.") and match.complete
    assert match.dropped == ["classifier.weight"] and match.untouched == 5
    assert "5 tensors fit in the flat layout into encoder (1 left out by the layout: classifier.weight)" \
        in match.summary()
    assert torch.equal(net.encoder.conv.weight, state["w"]) and torch.equal(net.encoder.bn.running_var, state["var"])
    assert torch.equal(net.head.weight, head)


def test_strict_names_what_does_not_fit_and_partial_loads_the_rest(tmp_path):
    state = _flat_state()
    del state["var"]
    state["w"] = torch.zeros(4, 3, 5, 5)
    state["extra"] = torch.zeros(2)
    torch.save(state, tmp_path / "flat.pt")
    net = Net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_weights_into(net, tmp_path / "flat.pt", label="train.init", hint="Try partial.")
    assert str(info.value) == (
        f"train.init {tmp_path / 'flat.pt'} does not fit Net (in the flat layout into encoder): missing keys: "
        "encoder.bn.running_var; unexpected keys: extra; shape mismatches: encoder.conv.weight: file (4, 3, 5, 5) "
        "vs network (4, 3, 3, 3). Try partial.")
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())  # nothing loaded

    match = load_weights_into(net, tmp_path / "flat.pt", strict=False)
    assert sorted(match.tensors) == ["encoder.bn.bias", "encoder.bn.running_mean", "encoder.bn.weight"]
    assert torch.equal(net.encoder.bn.weight, state["gamma"]) and torch.equal(net.encoder.conv.weight,
                                                                              before["encoder.conv.weight"])
    report = match.to_dict()
    assert report["missing"] == ["encoder.bn.running_var"] and report["unexpected"] == ["extra"]
    assert report["mismatched"] == [{"key": "encoder.conv.weight", "file": [4, 3, 5, 5], "network": [4, 3, 3, 3]}]


def test_the_layout_where_most_tensors_fit_wins_and_nothing_fitting_is_an_error(tmp_path):
    own = _random_state(Net())
    assert match_weights(Net(), own).layout.name == "own"
    assert match_weights(Net(), {"w": own["encoder.conv.weight"]}).layout.name == "flat"
    torch.save({"classifier.weight": torch.zeros(3), "other": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match=r"foreign.pt does not fit Net \(in its own layout\): missing keys: "
                                              r"encoder.conv.weight, .* \(and 2 more\); unexpected keys: "
                                              r"classifier.weight, other\.$"):
        load_weights_into(Net(), tmp_path / "foreign.pt", strict=False)
