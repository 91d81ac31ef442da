"""The stand-alone network of one architecture, and the supernet holding every candidate.

Both read like the diagram: stem -> encoder stages (stride 2 each) -> 1x1 bridge -> decoder steps, deepest
first, each fusing one stage's output as a skip and refining with a 3x3 conv -> classifier -> resize.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from encdec_space.blocks import ConvBNReLU, Fusion, Head, make_block
from encdec_space.plugin import EncDecOptions
from gasnas.api.space import Factor, RelaxedChoice, Supernet, kbest, log_scores


def block_label(k: int) -> str:
    return f"stage{k}/block"


def width_label(k: int) -> str:
    return f"stage{k}/width"


def skip_label(k: int) -> str:
    return f"stage{k}/skip"


def hidden_widths(options: EncDecOptions, k: int) -> list[int]:
    """Stage ``k``'s candidate hidden widths (channels), from the expansion multiples."""
    return sorted({max(1, round(options.stages[k] * e)) for e in options.expansions})


def stage_candidates(options: EncDecOptions, k: int) -> list[str]:
    """``block@width`` for every block and width: the two choices are relaxed jointly, as their costs interact."""
    return [f"{b}@{w}" for b in options.blocks for w in hidden_widths(options, k)]


def skip_stages(options: EncDecOptions) -> list[int]:
    """The stages fused by the decoder, deepest first (every stage but the last)."""
    return list(range(len(options.stages) - 2, -1, -1))


class _Frame(nn.Module):
    """What both networks share: stem, bridge, refinements and head."""

    def __init__(self, options: EncDecOptions, num_classes: int) -> None:
        super().__init__()
        self.options = options
        self.stem = ConvBNReLU(3, options.stem_channels, 3, 2)
        self.bridge = ConvBNReLU(options.stages[-1], options.decoder_channels)
        self.refine = nn.ModuleList(ConvBNReLU(options.decoder_channels, options.decoder_channels, 3)
                                    for _ in skip_stages(options))
        self.head = Head(options.decoder_channels, num_classes)

    def stage_inputs(self) -> list[int]:
        return [self.options.stem_channels, *self.options.stages[:-1]]


class EncDecNetwork(_Frame):
    """The network of one sample."""

    def __init__(self, options: EncDecOptions, sample: Mapping[str, Any], num_classes: int) -> None:
        super().__init__(options, num_classes)
        self.encoder = nn.ModuleList(make_block(sample[block_label(k)], c_in, sample[width_label(k)], c_out)
                                     for k, (c_in, c_out) in enumerate(zip(self.stage_inputs(), options.stages)))
        self.fusions = nn.ModuleList(Fusion(sample[skip_label(k)], options.decoder_channels, options.stages[k])
                                     for k in skip_stages(options))

    def forward(self, x: Tensor) -> Tensor:
        features, y = [], self.stem(x)
        for block in self.encoder:
            y = block(y)
            features.append(y)
        y = self.bridge(y)
        for k, fuse, refine in zip(skip_stages(self.options), self.fusions, self.refine):
            y = refine(fuse(y, features[k]))
        return self.head(y, x.shape[-2:])


def _mix(candidates: nn.ModuleDict, weights: Tensor, *inputs: Tensor) -> Tensor:
    """sum_i w_i * candidate_i(inputs) over the candidates with w_i != 0 (one-hot weights: a single path)."""
    out = None
    for i, (on, module) in enumerate(zip((weights != 0).tolist(), candidates.values())):
        if on:
            y = weights[i] * module(*inputs)  # kept as a product: a relaxed search needs d(out)/d(weights)
            out = y if out is None else out + y
    if out is None:
        raise ValueError("mixing weights are all zero")
    return out


class EncDecSupernet(_Frame, Supernet):
    """Every (block, width) candidate of every stage and every fusion of every skip, each with its own weights."""

    def __init__(self, options: EncDecOptions, num_classes: int) -> None:
        super().__init__(options, num_classes)
        self.encoder = nn.ModuleList(
            nn.ModuleDict({name: make_block(name.split("@")[0], c_in, int(name.split("@")[1]), c_out)
                           for name in stage_candidates(options, k)})
            for k, (c_in, c_out) in enumerate(zip(self.stage_inputs(), options.stages)))
        self.fusions = nn.ModuleList(
            nn.ModuleDict({kind: Fusion(kind, options.decoder_channels, options.stages[k]) for kind in options.fusions})
            for k in skip_stages(options))
        self._choices = tuple(
            [RelaxedChoice(f"stage{k}", tuple(stage_candidates(options, k)), f"stage{k}")
             for k in range(len(options.stages))]
            + [RelaxedChoice(skip_label(k), tuple(options.fusions), "decoder") for k in skip_stages(options)])

    def relaxed_choices(self) -> Sequence[RelaxedChoice]:
        return self._choices

    def forward(self, x: Tensor, mixing: Mapping[str, Tensor]) -> Tensor:
        features, y = [], self.stem(x)
        for k, candidates in enumerate(self.encoder):
            y = _mix(candidates, mixing[f"stage{k}"], y)
            features.append(y)
        y = self.bridge(y)
        for k, candidates, refine in zip(skip_stages(self.options), self.fusions, self.refine):
            y = refine(_mix(candidates, mixing[skip_label(k)], y, features[k]))
        return self.head(y, x.shape[-2:])

    def derive(self, probs: Mapping[str, Tensor], top_k: int = 1) -> list[tuple[dict[str, Any], float]]:
        """The ``top_k`` samples with the highest summed log-probability (every choice is independent)."""
        factors = []
        scores = log_scores(probs)
        for choice in self._choices:
            logp = scores[choice.key].tolist()
            options = tuple((lp, self._partial(choice, name)) for lp, name in zip(logp, choice.candidates))
            factors.append(Factor(options))
        return [(sample, score) for score, sample in kbest(factors, top_k)]

    def mixing_for(self, sample: Mapping[str, Any]) -> dict[str, Tensor]:
        device = self.bridge[0].weight.device
        mixing = {}
        for choice in self._choices:
            chosen = next(n for n in choice.candidates if self._partial(choice, n).items() <= sample.items())
            mixing[choice.key] = torch.zeros(len(choice.candidates), device=device)
            mixing[choice.key][choice.candidates.index(chosen)] = 1.0
        return mixing

    @staticmethod
    def _partial(choice: RelaxedChoice, name: str) -> dict[str, Any]:
        """The labels one candidate of a relaxed choice stands for."""
        if choice.key.endswith("/skip"):
            return {choice.key: name}
        k = int(choice.key.removeprefix("stage"))
        block, width = name.split("@")
        return {block_label(k): block, width_label(k): int(width)}
