"""The ``dcnas`` search space: DCNAS's densely connected multi-scale space in NNI's sample format.

Labels, per cell ``(l, s)`` of the grid (layer ``l``, scale ``s``: 0 is 1/4 of the input ... 3 is 1/32):
``layer{l}/scale{s}/inputs`` (the indices of the kept paths among the cell's sources -- the stem, then every
cell of the earlier layers in network order -- a sorted list of ``inputs`` of them: NNI's ``InputChoice``; only
where a cell has more sources than it keeps) and, per node ``i`` (1 ... B), ``layer{l}/scale{s}/op_{i}_0`` (an
operation name) and ``layer{l}/scale{s}/input_{i}_0`` (``[j]``, the state it reads: NNI's ``Cell``). A network
holds the cells the head reaches; :meth:`DcnasSearchSpace.canonical` drops the labels of the others.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from gasnas.api import Categorical, CategoricalMultiple, IncompatibleComponentsError, Mutable
from gasnas.api.space import Block, CostTerm, SearchSpace
from gasnas_plugins.spaces.dcnas.cells import (STEM, Projection, Resample, cell_label, edge_key, input_label,
                                               inputs_label, op_label, sources_of)
from gasnas_plugins.spaces.dcnas.network import (DcnasNetwork, DcnasSupernet, Head, Stem, grid, has_inputs_choice,
                                                 kept_sources, used_cells)
from gasnas_plugins.spaces.dcnas.options import DcnasSpaceOptions, DcnasSpec, Sampling, resolve, resolve_sampling
from gasnas_plugins.spaces.gas.ops import is_free, make_op

__all__ = ["DcnasSearchSpace"]


def _down(size: int, stride: int) -> int:
    return -(-size // stride)


class _Sized(nn.Module):
    """A module called with a target size, timed at a fixed one."""

    def __init__(self, module: nn.Module, size: tuple[int, ...], listed: bool = False) -> None:
        super().__init__()
        self.module, self.size, self.listed = module, size, listed

    def forward(self, *x):
        return self.module(list(x) if self.listed else x[0], self.size)


class DcnasSearchSpace(SearchSpace):
    """Stem to 1/4 -> L layers of cells at 1/4 ... 1/32, each fusing paths from every earlier cell -> head."""

    def __init__(self, options: DcnasSpaceOptions | None = None) -> None:
        self.options = options or DcnasSpaceOptions()
        self.spec: DcnasSpec = resolve(self.options)
        self.sampling: Sampling = resolve_sampling(self.options)
        self.grid = grid(self.spec)
        self.ops = tuple(op for op in self.spec.ops if op != "zero")
        self._choices: dict[str, Mutable] = {}
        for cell in self.grid:
            if has_inputs_choice(self.spec, cell):
                n = len(sources_of(cell, self.spec.scales))
                self._choices[inputs_label(*cell)] = CategoricalMultiple(list(range(n)), n_chosen=self.spec.inputs,
                                                                         label=inputs_label(*cell))
            for i in range(1, self.spec.nodes + 1):
                self._choices[op_label(*cell, i)] = Categorical(self.ops, label=op_label(*cell, i))
                self._choices[input_label(*cell, i)] = CategoricalMultiple(list(range(i)), n_chosen=1,
                                                                           label=input_label(*cell, i))

    def choices(self) -> Mapping[str, Mutable]:
        return self._choices

    def canonical(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        """Only the labels of the cells the head reaches."""
        used = {cell_label(*cell) for cell in used_cells(self.spec, sample)}
        return {k: v for k, v in sample.items() if k.rsplit("/", 1)[0] in used}

    def build(self, sample: Mapping[str, Any], num_classes: int) -> DcnasNetwork:
        self.validate(sample)
        return DcnasNetwork(self.spec, sample, num_classes)

    def build_supernet(self, num_classes: int, *, partial_channels: int = 1,
                       edge_normalization: bool = False) -> DcnasSupernet:
        """The supernet with the space's sampling; a strategy's ``partial_channels`` K > 1 is its channel sampling
        at 1/K (see :meth:`sampling_for`); ``edge_normalization`` (PC-DARTS) adds a choice per node of two or more
        incoming edges weighting them."""
        return DcnasSupernet(self.spec, num_classes, self.sampling_for(partial_channels), edge_normalization)

    def sampling_for(self, partial_channels: int) -> Sampling:
        """The space's sampling with a strategy's ``partial_channels`` K: K = 1 asks nothing (the space's own
        ``channel_fraction`` holds); K > 1 sets channel_fraction 1/K, over the preset's, and must agree with a
        channel_fraction set in the space's options."""
        if partial_channels < 1:
            raise ValueError(f"partial_channels must be >= 1, got {partial_channels}")
        if partial_channels == 1:
            return self.sampling
        own = self.options.channel_fraction
        if own is not None and self.sampling.groups != partial_channels:
            raise IncompatibleComponentsError(
                f"strategy.params.partial_channels {partial_channels} (1/{partial_channels} of each edge's channels) "
                f"disagrees with space.params.channel_fraction {own} of search space dcnas (its channel sampling): "
                f"set one of them only, or channel_fraction: {1 / partial_channels:g}")
        if self.spec.channels % partial_channels:
            raise IncompatibleComponentsError(
                f"strategy.params.partial_channels {partial_channels} must divide the cell widths of search space "
                f"dcnas, but space.params.channels is {self.spec.channels}; choose a K that divides it")
        return dataclasses.replace(self.sampling, channel_fraction=1 / partial_channels)

    def nni_model_space(self, num_classes: int) -> nn.Module:
        """The space as NNI ``InputChoice`` s and ``Cell`` s with the same labels: a
        :class:`~gasnas_plugins.spaces.dcnas.model_space.DcnasModelSpace` with this space's options (needs nni)."""
        from gasnas.api import options_to_dict
        from gasnas_plugins.nni_support import nas_nn, quiet

        nas_nn()  # the install hint when nni is missing
        with quiet():
            from gasnas_plugins.spaces.dcnas.model_space import DcnasModelSpace

            return DcnasModelSpace(num_classes=num_classes, **options_to_dict(self.options))

    def render(self, sample: Mapping[str, Any], directory: Path) -> list[Path]:
        from gasnas_plugins.spaces.dcnas.render import draw_paths

        return draw_paths(self.spec, sample, Path(directory))

    def fingerprint(self) -> str:
        """The network structure only: the sampling options do not change the networks or their latency."""
        import hashlib

        return f"dcnas-{hashlib.sha1(repr(self.spec).encode()).hexdigest()[:10]}"

    def describe(self, sample: Mapping[str, Any]) -> str:
        used = used_cells(self.spec, sample)
        moves = collections.Counter()
        for cell in used:
            for src in kept_sources(self.spec, cell, sample):
                moves["down" if src[1] < cell[1] else "up" if src[1] > cell[1] else "same"] += 1
        ops = collections.Counter(sample[op_label(*cell, i)] for cell in used for i in range(1, self.spec.nodes + 1))
        paths = ", ".join(f"{moves[m]} {m}" for m in ("same", "down", "up") if moves[m])
        return (f"{len(used)} of {len(self.grid)} cells, {sum(moves.values())} paths ({paths}), "
                + ", ".join(f"{n}x {op}" for op, n in ops.most_common()))

    # -- latency description -------------------------------------------------------------------------------------

    def cost_terms(self, input_shape: tuple[int, ...], sample: Mapping[str, Any] | None = None,
                   num_classes: int = 19) -> list[CostTerm]:
        """Stem, per cell its paths (resampling), operations and projection, and the head, as timed blocks.

        Without ``sample``: per cell that chooses its paths, one term relaxed over them weighted by ``inputs`` (the
        paths a derivation keeps); per edge, one term relaxed over the operations weighted by 1 / (inputs of its
        node). Every cell of the grid counts (ours: whether a cell is reached depends on the other cells' paths,
        which one term cannot express). With ``sample``: the cells the head reaches, with their kept paths and
        operations. The fusion's weighted average and the head's upsampling adds are not timed on their own.
        """
        n, _, h, w = input_shape
        spec = self.spec
        if sample is not None:
            self.validate(sample)
        stem_hw = (_down(_down(h, 2), 2), _down(_down(w, 2), 2))
        hw = [(_down(stem_hw[0], 2 ** s), _down(stem_hw[1], 2 ** s)) for s in range(spec.scales)]
        terms = [CostTerm("stem", ((Block(f"dcnas.stem(c={list(spec.stem_channels)})", ((n, 3, h, w),),
                                          lambda: Stem(spec.stem_channels)),),))]

        def shape_of(src) -> tuple[int, int, int, int]:
            return (n, spec.stem_channels[-1], *hw[0]) if src == STEM else (n, spec.width(src[1]), *hw[src[1]])

        def path_block(src, cell) -> Block:
            c_in, c, s_in = shape_of(src)[1], spec.width(cell[1]), (0 if src == STEM else src[1])
            size = hw[cell[1]]
            return Block(f"dcnas.resample(cin={c_in},c={c},to={size[0]}x{size[1]})", (shape_of(src),),
                         lambda: _Sized(Resample(c_in, c, cell[1] - s_in), size))

        def op_blocks(op: str, c: int, size: tuple[int, int]) -> tuple[Block, ...]:
            if is_free(op, 1):
                return ()
            return (Block(f"dcnas.{op}(c={c})", ((n, c, *size),), lambda: make_op(op, c, 1)),)

        zero = spec.ops.index("zero") if "zero" in spec.ops else None
        cells = self.grid if sample is None else used_cells(spec, sample)
        for cell in cells:
            group, c, size = f"layer{cell[0]}", spec.width(cell[1]), hw[cell[1]]
            sources = sources_of(cell, spec.scales)
            if sample is None and has_inputs_choice(spec, cell):
                terms.append(CostTerm(group, tuple((path_block(src, cell),) for src in sources), inputs_label(*cell),
                                      weight=float(spec.inputs)))
            else:
                kept = sources if sample is None else kept_sources(spec, cell, sample)
                terms.append(CostTerm(group, (tuple(path_block(src, cell) for src in kept),)))
            terms.append(CostTerm(group, ((Block(f"dcnas.project(nodes={spec.nodes},c={c})",
                                                 tuple((n, c, *size) for _ in range(spec.nodes)),
                                                 lambda b=c: Projection(spec.nodes, b)),),)))
            for i in range(1, spec.nodes + 1):
                if sample is not None:
                    terms.append(CostTerm(group, (op_blocks(sample[op_label(*cell, i)], c, size),)))
                    continue
                for j in range(i):
                    terms.append(CostTerm(group, tuple(op_blocks(op, c, size) for op in spec.ops),
                                          edge_key(*cell, i, j), weight=1.0 / i, zero=zero))
        widths = [spec.width(s) for s in range(spec.scales)]
        head_key = (f"dcnas.head(cin={widths},c={spec.head_channels},classes={num_classes},out={h}x{w})")
        terms.append(CostTerm("head", ((Block(head_key, tuple((n, widths[s], *hw[s]) for s in range(spec.scales)),
                                              lambda: _Sized(Head(widths, spec.head_channels, num_classes),
                                                             (h, w), listed=True)),),)))
        return terms
