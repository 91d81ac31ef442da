"""The ``encdec`` search space: labelled choices, networks, a supernet, and the blocks a latency table times."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from encdec_space.blocks import ConvBNReLU, Fusion, Head, make_block
from encdec_space.network import (EncDecNetwork, EncDecSupernet, block_label, hidden_widths, skip_label, skip_stages,
                                  stage_candidates, width_label)
from encdec_space.plugin import EncDecOptions
from gasnas.api import Categorical, Mutable
from gasnas.api.space import Block, CostTerm, SearchSpace, refuse_edge_normalization, refuse_partial_channels


def _down(size: tuple[int, int]) -> tuple[int, int]:
    """The resolution after a stride-2, padding-1 3x3 convolution."""
    return (size[0] + 1) // 2, (size[1] + 1) // 2


class EncDecSpace(SearchSpace):
    """Per encoder stage a block type and a hidden width; per decoder step how the skip is fused."""

    def __init__(self, options: EncDecOptions | None = None) -> None:
        self.options = options or EncDecOptions()
        o = self.options
        self._choices: dict[str, Mutable] = {}
        for k in range(len(o.stages)):
            self._choices[block_label(k)] = Categorical(list(o.blocks), label=block_label(k))
            self._choices[width_label(k)] = Categorical(hidden_widths(o, k), label=width_label(k))
        for k in skip_stages(o):
            self._choices[skip_label(k)] = Categorical(list(o.fusions), label=skip_label(k))

    def choices(self) -> Mapping[str, Mutable]:
        return self._choices

    def build(self, sample: Mapping[str, Any], num_classes: int) -> EncDecNetwork:
        self.validate(sample)
        return EncDecNetwork(self.options, sample, num_classes)

    def build_supernet(self, num_classes: int, *, partial_channels: int = 1,
                       edge_normalization: bool = False) -> EncDecSupernet:
        """The supernet; no partial channels (a block's candidates change its width), no edge normalisation (its
        blocks form a chain: no node sums edges)."""
        refuse_partial_channels(self, partial_channels, "a block's candidates change its width, so no channels can "
                                "bypass them")
        refuse_edge_normalization(self, edge_normalization, "its blocks form a chain, so no node sums edges")
        return EncDecSupernet(self.options, num_classes)

    def describe(self, sample: Mapping[str, Any]) -> str:
        o = self.options
        stages = ", ".join(f"{sample[block_label(k)]}@{sample[width_label(k)]}" for k in range(len(o.stages)))
        skips = ", ".join(str(sample[skip_label(k)]) for k in skip_stages(o))
        return f"encoder {stages}; skips {skips}"

    def cost_terms(self, input_shape: tuple[int, ...], sample: Mapping[str, Any] | None = None,
                   num_classes: int = 19) -> list[CostTerm]:
        """Stem, one term per stage (its block and width), bridge, one per decoder step (fusion, refinement), head.

        Without ``sample`` each stage and skip is a relaxed term keyed like the supernet's choice.
        """
        if sample is not None:
            self.validate(sample)
        o = self.options
        n, _, h, w = input_shape
        size = _down((h, w))
        terms = [CostTerm("stem", ((Block(f"encdec.stem(c={o.stem_channels})", ((n, 3, h, w),),
                                          lambda: ConvBNReLU(3, o.stem_channels, 3, 2)),),))]
        sizes, c_in = [], o.stem_channels
        for k, c_out in enumerate(o.stages):
            blocks = {name: (self._stage_block(name, c_in, c_out, (n, c_in, *size)),)
                      for name in stage_candidates(o, k)}
            if sample is None:
                terms.append(CostTerm(f"stage{k}", tuple(blocks.values()), key=f"stage{k}"))
            else:
                terms.append(CostTerm(f"stage{k}", (blocks[f"{sample[block_label(k)]}@{sample[width_label(k)]}"],)))
            size, c_in = _down(size), c_out
            sizes.append(size)
        d = o.decoder_channels
        terms.append(CostTerm("decoder", ((Block(f"encdec.bridge(cin={c_in},c={d})", ((n, c_in, *size),),
                                                 lambda c=c_in: ConvBNReLU(c, d)),),)))
        low = size
        for k in skip_stages(o):
            skip = (n, o.stages[k], *sizes[k])
            fusions = {kind: (Block(f"encdec.fuse-{kind}(c={d},skip={o.stages[k]})", ((n, d, *low), skip),
                                    lambda kind=kind, c=o.stages[k]: Fusion(kind, d, c)),)
                       for kind in o.fusions}
            chosen = tuple(fusions.values()) if sample is None else (fusions[sample[skip_label(k)]],)
            terms.append(CostTerm("decoder", chosen, key=skip_label(k) if sample is None else None))
            terms.append(CostTerm("decoder", ((Block(f"encdec.refine(c={d})", ((n, d, *sizes[k]),),
                                                     lambda: ConvBNReLU(d, d, 3)),),)))
            low = sizes[k]
        terms.append(CostTerm("head", ((Block(f"encdec.head(c={d},classes={num_classes},out={h}x{w})",
                                              ((n, d, *low),), lambda: Head(d, num_classes, (h, w))),),)))
        return terms

    @staticmethod
    def _stage_block(name: str, c_in: int, c_out: int, shape: tuple[int, ...]) -> Block:
        kind, hidden = name.split("@")
        return Block(f"encdec.{kind}(cin={c_in},hidden={hidden},cout={c_out},s=2)", (shape,),
                     lambda: make_block(kind, c_in, int(hidden), c_out))
