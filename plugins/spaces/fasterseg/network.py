"""FasterSeg networks: stem to 1/8 -> a grid of cells (layer, scale) -> two branches fused by a head.

Cell ``(l, s)`` exists for ``l >= s``: it reads either the same scale of the layer before (``keep``) or the
finer scale through a stride-2 operation with doubled channels (``down``). The state before layer 0 is the stem
output at scale 0. A branch is the path that ends at cell ``(L - 1, b)``; a derived network holds the cells of its
two branches' paths. :class:`FasterSegSupernet` holds every cell with both inputs and every operation at full
width, and mixes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api.space import Factor, RelaxedChoice, Supernet, kbest, log_scores
from gasnas_plugins.spaces.fasterseg.ops import ConvBNReLU, make_op
from gasnas_plugins.spaces.fasterseg.options import SCALES, FasterSegSpec

__all__ = ["Stem", "Head", "FasterSegNetwork", "FasterSegSupernet", "grid", "inputs_of", "source_of", "used_cells",
           "op_label", "width_label", "input_label"]

Cell = tuple[int, int]  # (layer, scale)


def op_label(layer: int, scale: int) -> str:
    return f"layer{layer}/scale{scale}/op"


def width_label(layer: int, scale: int) -> str:
    return f"layer{layer}/scale{scale}/width"


def input_label(layer: int, scale: int) -> str:
    return f"layer{layer}/scale{scale}/input"


def grid(spec: FasterSegSpec) -> list[Cell]:
    """Every cell in network order."""
    return [(l, s) for l in range(spec.layers) for s in range(min(l, SCALES - 1) + 1)]


def inputs_of(cell: Cell) -> tuple[str, ...]:
    """The inputs a cell may read: ``keep`` (same scale; the stem for layer 0) exists unless the cell is the
    first of a coarser scale, ``down`` (from the finer scale) exists above scale 0."""
    layer, scale = cell
    return tuple(kind for kind, ok in (("keep", layer > scale or scale == 0), ("down", scale > 0)) if ok)


def source_of(cell: Cell, kind: str) -> Cell:
    """The cell (or ``(-1, 0)``, the stem) an input reads."""
    layer, scale = cell
    return (layer - 1, scale) if kind == "keep" else (layer - 1, scale - 1)


def chosen_input(cell: Cell, sample: Mapping[str, Any]) -> str:
    kinds = inputs_of(cell)
    return sample[input_label(*cell)] if len(kinds) > 1 else kinds[0]


def used_cells(spec: FasterSegSpec, sample: Mapping[str, Any]) -> list[Cell]:
    """The cells on the two branches' paths, in network order."""
    used: set[Cell] = set()
    for branch in spec.branches:
        cell = (spec.layers - 1, branch)
        while cell[0] >= 0 and cell not in used:
            used.add(cell)
            cell = source_of(cell, chosen_input(cell, sample))
    return sorted(used)


class Stem(nn.Sequential):
    """A 3x3 stride-2 convolution, then twice two 3x3 convolutions of which the first strides 2: 1/8."""

    def __init__(self, c_first: int, channels: int) -> None:
        super().__init__(ConvBNReLU(3, c_first, 3, 2),
                         ConvBNReLU(c_first, channels, 3, 2), ConvBNReLU(channels, channels, 3),
                         ConvBNReLU(channels, channels, 3, 2), ConvBNReLU(channels, channels, 3))


class Head(nn.Module):
    """Each branch 1x1 to ``channels``; the coarse one upsampled onto the fine one and added; a 3x3 refine
    convolution; classifier; bilinear resize to the input size."""

    def __init__(self, c_fine: int, c_coarse: int, channels: int, num_classes: int) -> None:
        super().__init__()
        self.fine = ConvBNReLU(c_fine, channels, 1)
        self.coarse = ConvBNReLU(c_coarse, channels, 1)
        self.refine = ConvBNReLU(channels, channels, 3)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, fine: Tensor, coarse: Tensor, size: Sequence[int]) -> Tensor:
        coarse = F.interpolate(self.coarse(coarse), size=fine.shape[-2:], mode="bilinear", align_corners=False)
        y = self.classifier(self.refine(self.fine(fine) + coarse))
        return F.interpolate(y, size=tuple(size), mode="bilinear", align_corners=False)


class FasterSegNetwork(nn.Module):
    """A derived network: the cells of the two branches' paths, each one operation at its width."""

    def __init__(self, spec: FasterSegSpec, sample: Mapping[str, Any], num_classes: int) -> None:
        super().__init__()
        self.spec = spec
        self.stem = Stem(spec.stem_channels, spec.channels)
        self.cells = used_cells(spec, sample)
        self.sources = {cell: source_of(cell, chosen_input(cell, sample)) for cell in self.cells}
        width = {cell: spec.width(cell[1], sample[width_label(*cell)]) for cell in self.cells}
        width[(-1, 0)] = spec.channels
        self.ops = nn.ModuleDict({
            f"{l}_{s}": make_op(sample[op_label(l, s)], width[self.sources[(l, s)]], width[(l, s)],
                                1 if self.sources[(l, s)][1] == s else 2) for l, s in self.cells})
        fine, coarse = ((spec.layers - 1, b) for b in spec.branches)
        self.head = Head(width[fine], width[coarse], spec.head_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        states = {(-1, 0): self.stem(x)}
        for l, s in self.cells:
            states[(l, s)] = self.ops[f"{l}_{s}"](states[self.sources[(l, s)]])
        fine, coarse = (states[(self.spec.layers - 1, b)] for b in self.spec.branches)
        return self.head(fine, coarse, x.shape[-2:])


class SearchCell(nn.Module):
    """Every operation on every input of a cell, at full width; ``forward`` mixes them and masks the width."""

    def __init__(self, spec: FasterSegSpec, cell: Cell) -> None:
        super().__init__()
        scale = cell[1]
        self.kinds = inputs_of(cell)
        self.names = spec.ops
        self.mixed = nn.ModuleDict({
            kind: nn.ModuleList(make_op(op, spec.full_width(scale - (kind == "down")), spec.full_width(scale),
                                        1 if kind == "keep" else 2) for op in spec.ops)
            for kind in self.kinds})
        limits = torch.tensor([spec.width(scale, w) for w in spec.widths])
        # masks[w, c] = 1 when channel c is kept at width w
        self.register_buffer("masks", (torch.arange(spec.full_width(scale))[None, :] < limits[:, None]).float(),
                             persistent=False)

    def forward(self, states: Mapping[Cell, Tensor], sources: Mapping[str, Cell], ops: Tensor, inputs: Tensor | None,
                widths: Tensor, active: Mapping[str, Sequence[int]]) -> Tensor:
        """``active`` lists, per relaxed choice (``op``, ``input``), the candidates with a non-zero weight."""
        mask = widths @ self.masks
        out = None
        for k, kind in enumerate(self.kinds):
            if inputs is not None and k not in active["input"]:
                continue
            for o in active["op"]:
                y = ops[o] * self.mixed[kind][o](states[sources[kind]], mask)
                y = y if inputs is None else inputs[k] * y
                out = y if out is None else out + y
        return out


class FasterSegSupernet(Supernet):
    """Every cell of the grid with every operation on every input at full width. Relaxed per cell: the
    operation (shared by both inputs), the input (where there are two) and the width (a channel mask: the
    mixing-weighted share of the widths that keep each channel)."""

    def __init__(self, spec: FasterSegSpec, num_classes: int) -> None:
        super().__init__()
        self.spec = spec
        self.grid = grid(spec)
        self.stem = Stem(spec.stem_channels, spec.channels)
        self.cells = nn.ModuleDict({f"{l}_{s}": SearchCell(spec, (l, s)) for l, s in self.grid})
        self.head = Head(spec.full_width(spec.branches[0]), spec.full_width(spec.branches[1]), spec.head_channels,
                         num_classes)
        choices = []
        for cell in self.grid:
            group = f"layer{cell[0]}"
            choices.append(RelaxedChoice(op_label(*cell), spec.ops, group))
            if len(inputs_of(cell)) > 1:
                choices.append(RelaxedChoice(input_label(*cell), inputs_of(cell), group))
            choices.append(RelaxedChoice(width_label(*cell), tuple(str(w) for w in spec.widths), group))
        self._choices = tuple(choices)

    def relaxed_choices(self) -> Sequence[RelaxedChoice]:
        return self._choices

    def forward(self, x: Tensor, mixing: Mapping[str, Tensor]) -> Tensor:
        keys = [c.key for c in self._choices]
        flags = (torch.cat([mixing[k] for k in keys]) != 0).cpu().tolist()  # one sync for all choices
        nonzero, at = {}, 0
        for c in self._choices:
            nonzero[c.key] = [i for i, on in enumerate(flags[at:at + len(c.candidates)]) if on]
            at += len(c.candidates)
        states = {(-1, 0): self.stem(x)}
        for cell in self.grid:
            sources = {kind: source_of(cell, kind) for kind in inputs_of(cell)}
            inputs = mixing[input_label(*cell)] if len(sources) > 1 else None
            active = {"op": nonzero[op_label(*cell)], "input": nonzero.get(input_label(*cell), [0])}
            states[cell] = self.cells[f"{cell[0]}_{cell[1]}"](states, sources, mixing[op_label(*cell)], inputs,
                                                              mixing[width_label(*cell)], active)
        fine, coarse = (states[(self.spec.layers - 1, b)] for b in self.spec.branches)
        return self.head(fine, coarse, x.shape[-2:])

    def _values(self, choice: RelaxedChoice) -> tuple[Any, ...]:
        return tuple(int(c) for c in choice.candidates) if choice.key.endswith("/width") else choice.candidates

    def derive(self, probs: Mapping[str, Tensor], top_k: int = 1) -> list[tuple[dict[str, Any], float]]:
        """Every label independently (FasterSeg derives each choice by its argmax); the top-k by the summed
        log-scores of all labels, those of cells off the branches' paths included."""
        logp = log_scores(probs)
        factors = [Factor(tuple((float(logp[c.key][i]), {c.key: value}) for i, value in enumerate(self._values(c))))
                   for c in self._choices]
        return [(sample, score) for score, sample in kbest(factors, top_k)]

    def extract(self, sample: Mapping[str, Any]) -> FasterSegNetwork:
        """The stand-alone network of ``sample`` carrying the supernet's (shared) weights, each tensor cut to the
        first channels its width keeps: under :meth:`mixing_for` the supernet computes the same function."""
        net = FasterSegNetwork(self.spec, sample, self.head.classifier.out_channels)
        net = net.to(next(self.parameters()).device)
        _load_leading(net.stem, self.stem)
        _load_leading(net.head, self.head)
        for l, s in net.cells:
            kind = "keep" if net.sources[(l, s)][1] == s else "down"
            _load_leading(net.ops[f"{l}_{s}"], self.cells[f"{l}_{s}"].mixed[kind][self.spec.ops.index(
                sample[op_label(l, s)])])
        return net

    def mixing_for(self, sample: Mapping[str, Any]) -> dict[str, Tensor]:
        device = next(self.parameters()).device
        mixing = {}
        for c in self._choices:
            w = torch.zeros(len(c.candidates), device=device)
            w[self._values(c).index(sample[c.key])] = 1.0
            mixing[c.key] = w
        return mixing


def _load_leading(target: nn.Module, source: nn.Module) -> None:
    """Load into ``target`` the leading slice of each of ``source``'s tensors (a slimmable network's weights)."""
    weights = source.state_dict()
    target.load_state_dict({name: weights[name][tuple(slice(0, n) for n in t.shape)]
                            for name, t in target.state_dict().items()})
