"""FasterSeg networks: stem to 1/8 -> a grid of cells (layer, scale) -> two branches fused by a head.

Cell ``(l, s)`` exists for ``l >= s``: it reads either the same scale of the layer before (``keep``) or the
finer scale through a stride-2 operation with doubled channels (``down``). The state before layer 0 is the stem
output at scale 0. A branch is the path that ends at cell ``(L - 1, b)``; a derived network holds the cells of its
two branches' paths. :class:`FasterSegSupernet` holds every cell with both inputs and every operation at full
width, and mixes them. With a head choice (``head_choice``), the ``head`` label names the branch pair and the
supernet trains a head per pair, as FasterSeg's search trains ``pred02`` and ``pred12``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api.space import Factor, RelaxedChoice, Supernet, kbest, log_scores
from gasnas_plugins.spaces.fasterseg.guards import SKIP, Guards, best_head, repair
from gasnas_plugins.spaces.fasterseg.ops import ConvBNReLU, make_op
from gasnas_plugins.spaces.fasterseg.options import SCALES, FasterSegSpec

__all__ = ["Stem", "Head", "FasterSegNetwork", "FasterSegSupernet", "grid", "inputs_of", "source_of", "used_cells",
           "op_label", "width_label", "input_label", "HEAD", "branches_of", "choose_head"]

Cell = tuple[int, int]  # (layer, scale)
#: the label of the head choice (present with ``head_choice`` only)
HEAD = "head"


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


def branches_of(spec: FasterSegSpec, sample: Mapping[str, Any]) -> tuple[int, int]:
    """The two scales the head of ``sample`` fuses: its ``head`` choice, else the space's ``branches``."""
    return spec.head_names()[sample[HEAD]] if HEAD in sample else spec.branches


def used_cells(spec: FasterSegSpec, sample: Mapping[str, Any]) -> list[Cell]:
    """The cells on the two branches' paths, in network order."""
    used: set[Cell] = set()
    for branch in branches_of(spec, sample):
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
        self.branches = branches_of(spec, sample)
        fine, coarse = ((spec.layers - 1, b) for b in self.branches)
        self.head = Head(width[fine], width[coarse], spec.head_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        states = {(-1, 0): self.stem(x)}
        for l, s in self.cells:
            states[(l, s)] = self.ops[f"{l}_{s}"](states[self.sources[(l, s)]])
        fine, coarse = (states[(self.spec.layers - 1, b)] for b in self.branches)
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
    mixing-weighted share of the widths that keep each channel); with a head choice, the head (a head per branch
    pair, their logits mixed).

    :meth:`derive` holds FasterSeg's guards (``guards``, see ``guards.py``) and, with a head choice, ranks the
    heads by FasterSeg's accuracy-latency objective once :meth:`record_head` has the evidence of each (see
    :func:`choose_head`); before that, by the heads' scores like any other choice."""

    def __init__(self, spec: FasterSegSpec, num_classes: int, guards: Guards | None = None,
                 head_exponent: float = 0.07) -> None:
        super().__init__()
        self.spec = spec
        self.guards = guards or Guards()
        self.head_exponent = head_exponent
        #: head name -> (accuracy, latency) of its derived network, recorded by :meth:`record_head`
        self.head_evidence: dict[str, tuple[float, float]] = {}
        self.grid = grid(spec)
        self.stem = Stem(spec.stem_channels, spec.channels)
        self.cells = nn.ModuleDict({f"{l}_{s}": SearchCell(spec, (l, s)) for l, s in self.grid})
        self.heads = nn.ModuleDict({_head_key(pair): Head(spec.full_width(pair[0]), spec.full_width(pair[1]),
                                                         spec.head_channels, num_classes) for pair in spec.heads})
        choices = []
        for cell in self.grid:
            group = f"layer{cell[0]}"
            choices.append(RelaxedChoice(op_label(*cell), spec.ops, group, granularity="op"))
            if len(inputs_of(cell)) > 1:
                choices.append(RelaxedChoice(input_label(*cell), inputs_of(cell), group, granularity="path"))
            # a decoupled latency term holds the widths at the full width (FasterSeg's forward_latency)
            choices.append(RelaxedChoice(width_label(*cell), tuple(str(w) for w in spec.widths), group,
                                         granularity="width", held=spec.widths.index(max(spec.widths))))
        if len(spec.heads) > 1:
            choices.append(RelaxedChoice(HEAD, tuple(spec.head_names()), "head", granularity="path"))
        self._choices = tuple(choices)

    @property
    def head(self) -> Head:
        """The head of the space's ``branches``."""
        return self.heads[_head_key(self.spec.branches)]

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
        if HEAD not in mixing:
            return self._fuse(states, self.spec.branches, x.shape[-2:])
        out = None
        for i in nonzero[HEAD]:
            y = mixing[HEAD][i] * self._fuse(states, self.spec.heads[i], x.shape[-2:])
            out = y if out is None else out + y
        return out

    def _fuse(self, states: Mapping[Cell, Tensor], branches: tuple[int, int], size: Sequence[int]) -> Tensor:
        fine, coarse = (states[(self.spec.layers - 1, b)] for b in branches)
        return self.heads[_head_key(branches)](fine, coarse, size)

    def _values(self, choice: RelaxedChoice) -> tuple[Any, ...]:
        return tuple(int(c) for c in choice.candidates) if choice.key.endswith("/width") else choice.candidates

    def derive(self, probs: Mapping[str, Tensor], top_k: int = 1) -> list[tuple[dict[str, Any], float]]:
        """Every label by its own score (FasterSeg derives each choice by its argmax), then FasterSeg's guards:
        the best ``4 top_k + 4`` samples of each head are repaired (:func:`~.guards.repair`, a replaced skip
        becoming its cell's best other operation) and the distinct results ranked by the summed log-scores of all
        labels, those of cells off the branches' paths included (ours: the best repaired sample, which is
        FasterSeg's repaired argmax unless another repair scores higher). With a head choice and the evidence of
        every head (:meth:`record_head`), the head FasterSeg's objective prefers ranks first."""
        logp = {k: v.tolist() for k, v in log_scores(probs).items()}
        heads = tuple(self.spec.head_names()) if len(self.spec.heads) > 1 else (None,)
        rank = {head: 0 for head in heads}
        if len(heads) > 1 and set(self.head_evidence) >= set(heads):
            first = best_head({h: self.head_evidence[h] for h in heads}, self.head_exponent)
            rank = {head: int(head != first) for head in heads}
        pool: dict[str, tuple[dict[str, Any], float]] = {}
        for head in heads:
            for sample in self._guarded(logp, head, 4 * top_k + 4):
                pool.setdefault(repr(sorted(sample.items())), (sample, self._score(sample, logp)))
        ranked = sorted(pool.values(), key=lambda item: (rank[item[0].get(HEAD)], -item[1]))
        return ranked[:top_k]

    def head_candidates(self, probs: Mapping[str, Tensor]) -> dict[str, dict[str, Any]]:
        """Per head, the best derived (guarded) sample that uses it: the networks whose accuracy and latency
        FasterSeg's head objective compares."""
        if len(self.spec.heads) < 2:
            raise ValueError("the space has no head choice (head_choice: false): one head, nothing to compare")
        logp = {k: v.tolist() for k, v in log_scores(probs).items()}
        return {head: max(self._guarded(logp, head, 4), key=lambda s: self._score(s, logp))
                for head in self.spec.head_names()}

    def gather_evidence(self, probs: Mapping[str, Tensor], accuracy: Callable[[Mapping[str, Any]], float],
                        latency: Callable[[Mapping[str, Any]], float]) -> None:
        """With a head choice, FasterSeg's: :func:`choose_head` (each head's derived network scored and timed)."""
        if len(self.spec.heads) > 1:
            choose_head(self, probs, accuracy, latency)

    def record_head(self, head: str, accuracy: float, latency: float) -> None:
        """The accuracy and latency of ``head``'s derived network, for :meth:`derive`'s head choice."""
        if head not in self.spec.head_names():
            raise ValueError(f"unknown head {head!r}; the heads are {', '.join(self.spec.head_names())}")
        self.head_evidence[head] = (float(accuracy), float(latency))

    def _guarded(self, logp: Mapping[str, list[float]], head: str | None, n: int) -> list[dict[str, Any]]:
        """The ``n`` best samples with ``head`` (None: no head choice), each repaired to hold the guards;
        ``logp``: per choice, its candidates' log-scores."""
        factors = [Factor(tuple((logp[c.key][i], {c.key: value}) for i, value in enumerate(self._values(c))))
                   for c in self._choices if c.key != HEAD]
        if head is not None:
            factors.append(Factor(((0.0, {HEAD: head}),)))
        if SKIP not in self.spec.ops or not self.guards.enabled:
            return [sample for _, sample in kbest(factors, n)]
        skip = self.spec.ops.index(SKIP)

        def skip_score(cell: Cell) -> float:
            return logp[op_label(*cell)][skip]

        def replacement(cell: Cell) -> str:
            scores = logp[op_label(*cell)]
            return self.spec.ops[max((i for i in range(len(scores)) if i != skip), key=scores.__getitem__)]

        return [repair(self.spec, self.guards, sample, skip_score, replacement, branches_of(self.spec, sample))
                for _, sample in kbest(factors, n)]

    def _score(self, sample: Mapping[str, Any], logp: Mapping[str, list[float]]) -> float:
        return sum(logp[c.key][self._values(c).index(sample[c.key])] for c in self._choices)

    def extract(self, sample: Mapping[str, Any]) -> FasterSegNetwork:
        """The stand-alone network of ``sample`` carrying the supernet's (shared) weights, each tensor cut to the
        first channels its width keeps: under :meth:`mixing_for` the supernet computes the same function."""
        net = FasterSegNetwork(self.spec, sample, self.head.classifier.out_channels)
        net = net.to(next(self.parameters()).device)
        _load_leading(net.stem, self.stem)
        _load_leading(net.head, self.heads[_head_key(net.branches)])
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


def _head_key(branches: tuple[int, int]) -> str:
    """A head's module name: its branch scales, as FasterSeg names ``pred02`` and ``pred12``."""
    return f"{branches[0]}{branches[1]}"


def choose_head(supernet: FasterSegSupernet, probs: Mapping[str, Tensor],
                accuracy: Callable[[Mapping[str, Any]], float],
                latency: Callable[[Mapping[str, Any]], float]) -> str:
    """FasterSeg's final head choice: each head's derived network (:meth:`FasterSegSupernet.head_candidates`)
    evaluated (``accuracy``, e.g. the supernet's val mIoU on that path) and timed (``latency``), recorded on the
    supernet, and the head its objective prefers returned; :meth:`FasterSegSupernet.derive` ranks it first from
    then on."""
    for head, sample in supernet.head_candidates(probs).items():
        supernet.record_head(head, accuracy(sample), latency(sample))
    return best_head(supernet.head_evidence, supernet.head_exponent)


def _load_leading(target: nn.Module, source: nn.Module) -> None:
    """Load into ``target`` the leading slice of each of ``source``'s tensors (a slimmable network's weights)."""
    weights = source.state_dict()
    target.load_state_dict({name: weights[name][tuple(slice(0, n) for n in t.shape)]
                            for name, t in target.state_dict().items()})
