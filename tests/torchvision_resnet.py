"""torchvision's ResNet-18, written down by hand (torchvision does not import here): its state dict keys and
shapes, filled with random tensors, and its forward pass in plain functional torch, to check that gasnas's
``torchvision-resnet`` weight layout puts every tensor where torchvision uses it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

WIDTHS = (64, 128, 256, 512)
BLOCKS = (2, 2, 2, 2)
BATCHES_TRACKED = 7  # a counter value the freshly built network does not have


def resnet18_state(seed: int = 0) -> dict[str, Tensor]:
    """A state dict with the keys, shapes and dtypes of ``torchvision.models.resnet18().state_dict()``."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {}

    def conv(name: str, cout: int, cin: int, k: int) -> None:
        state[f"{name}.weight"] = torch.randn(cout, cin, k, k, generator=g) * (2 / (cin * k * k)) ** 0.5

    def bn(name: str, c: int) -> None:
        state[f"{name}.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
        state[f"{name}.bias"] = 0.1 * torch.randn(c, generator=g)
        state[f"{name}.running_mean"] = 0.1 * torch.randn(c, generator=g)
        state[f"{name}.running_var"] = 0.5 + torch.rand(c, generator=g)
        state[f"{name}.num_batches_tracked"] = torch.tensor(BATCHES_TRACKED)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    cin = 64
    for stage, (n, width) in enumerate(zip(BLOCKS, WIDTHS), start=1):
        for block in range(n):
            name = f"layer{stage}.{block}"
            conv(f"{name}.conv1", width, cin if block == 0 else width, 3)
            bn(f"{name}.bn1", width)
            conv(f"{name}.conv2", width, width, 3)
            bn(f"{name}.bn2", width)
            if block == 0 and stage > 1:
                conv(f"{name}.downsample.0", width, cin, 1)
                bn(f"{name}.downsample.1", width)
        cin = width
    state["fc.weight"] = torch.randn(1000, 512, generator=g) * 0.01
    state["fc.bias"] = torch.zeros(1000)
    return state


def gasnas_key(key: str) -> str | None:
    """Where bisenetv1-r18 keeps the tensor of torchvision's ``key`` (``None``: the classifier, which it lacks)."""
    if key.startswith("fc."):
        return None
    if key.startswith(("conv1.", "bn1.")):
        return "backbone.stem.0." + key.replace("conv1.", "conv.").replace("bn1.", "bn.")
    stage, block, rest = key.split(".", 2)
    rest = (rest.replace("conv1.", "conv1.conv.").replace("bn1.", "conv1.bn.").replace("conv2.", "conv2.conv.")
            .replace("bn2.", "conv2.bn.").replace("downsample.0.", "shortcut.conv.")
            .replace("downsample.1.", "shortcut.bn."))
    return f"backbone.stages.{int(stage.removeprefix('layer')) - 1}.{block}.{rest}"


def resnet18_features(state: dict[str, Tensor], x: Tensor) -> list[Tensor]:
    """torchvision's ResNet-18 forward in eval mode, returning the outputs of layer2, layer3 and layer4."""

    def bn(name: str, y: Tensor) -> Tensor:
        return F.batch_norm(y, state[f"{name}.running_mean"], state[f"{name}.running_var"], state[f"{name}.weight"],
                            state[f"{name}.bias"], training=False, eps=1e-5)

    def conv(name: str, y: Tensor, stride: int = 1) -> Tensor:
        weight = state[f"{name}.weight"]
        return F.conv2d(y, weight, stride=stride, padding=weight.shape[-1] // 2)

    y = F.max_pool2d(F.relu(bn("bn1", conv("conv1", x, 2))), 3, 2, 1)
    features = []
    for stage, n in enumerate(BLOCKS, start=1):
        for block in range(n):
            name = f"layer{stage}.{block}"
            stride = 2 if block == 0 and stage > 1 else 1
            out = F.relu(bn(f"{name}.bn1", conv(f"{name}.conv1", y, stride)))
            out = bn(f"{name}.bn2", conv(f"{name}.conv2", out))
            shortcut = bn(f"{name}.downsample.1", conv(f"{name}.downsample.0", y, stride)) \
                if f"{name}.downsample.0.weight" in state else y
            y = F.relu(out + shortcut)
        if stage > 1:
            features.append(y)
    return features
