"""Registration and options of the ``encdec`` space. No torch here: ``gasnas plugins`` stays fast."""

from __future__ import annotations

from dataclasses import dataclass

from gasnas import hookimpl
from gasnas.api import SAMPLING, SUPERNET, check_ranges, option

BLOCKS = ("conv", "sepconv", "mbconv")
FUSIONS = ("add", "concat", "none")


@dataclass(frozen=True)
class EncDecOptions:
    """Stem -> strided encoder stages (searchable block and width) -> decoder (searchable skip fusions)."""

    stem_channels: int = option(16, "width of the stride-2 stem convolution", ge=1)
    stages: tuple[int, ...] = option((16, 24, 32), "output width of each encoder stage (each halves the resolution)",
                                     ge=1)
    blocks: tuple[str, ...] = option(BLOCKS, "candidate blocks of each stage: conv, sepconv, mbconv")
    expansions: tuple[float, ...] = option((0.5, 1.0, 2.0), "candidate hidden widths, as multiples of the stage width",
                                           gt=0)
    fusions: tuple[str, ...] = option(FUSIONS, "candidate skip fusions of each decoder step: add, concat, none")
    decoder_channels: int = option(24, "width of the decoder", ge=1)

    def __post_init__(self) -> None:
        check_ranges(self)
        if len(self.stages) < 2:
            raise ValueError("stages needs at least 2 widths: the decoder fuses every stage but the last")
        unknown = [b for b in self.blocks if b not in BLOCKS] + [f for f in self.fusions if f not in FUSIONS]
        if unknown or not self.blocks or not self.fusions:
            raise ValueError(f"blocks must be among {BLOCKS} and fusions among {FUSIONS}; got {unknown or 'none'}")
        if not self.expansions:
            raise ValueError("expansions must name at least one hidden width")


@hookimpl
def gasnas_register_search_spaces(registry) -> None:
    registry.add("encdec", "encdec_space.space:EncDecSpace", options=EncDecOptions, capabilities=[SUPERNET, SAMPLING],
                 description="an encoder-decoder with searchable stage blocks, hidden widths and skip fusions "
                             "(example plugin)")
