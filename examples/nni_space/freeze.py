"""Build a searched architecture with NNI itself: the architecture file's sample is NNI's sample dict.

    PYTHONPATH=examples/nni_space python examples/nni_space/freeze.py runs/nni-space/architecture.yaml
"""

from __future__ import annotations

import sys

import torch
import yaml

from my_nni_space import DigitSegSpace

architecture = yaml.safe_load(open(sys.argv[1]))
space = DigitSegSpace(num_classes=11, **architecture["space"]["params"]["args"])
model = space.freeze(architecture["sample"]).eval()  # NNI's freeze, the sample unchanged
print(architecture["sample"])
print(model(torch.randn(1, 3, 64, 128)).shape)
