"""How reproducible a search's per-edge decisions are: the split-half reliability of its architecture evidence.

Cell-independent parameters give every edge its own logits, each learnt from the same noisy signal. Entropy
says how far the distribution moved; it does not say whether an edge's preference for one operation over
another would come out again. On the quickstart (5 cells, 45 edges, 8 operations) the per-operation means over
the edges agreed between search seeds (r = 0.83), while the edges' deviations from those means -- 88% of the
logits' variance -- agreed at r = 0.14: the derivation picked mostly from noise.

:class:`SplitHalf` measures this within one search. Every architecture step's evidence -- minus the gradient of
its accuracy part (cross-entropy, or REINFORCE's surrogate) with respect to the logits the derivation reads; the
latency term's share is left out, since its per-edge pattern comes from the edges' costs, not from the data --
goes to one of two halves by epoch parity (interleaved in time, so both see the same supernet). The correlation
``r`` of the two halves' per-edge deviations (from the means over the choices with the same candidates) is a
split-half reliability; Spearman-Brown gives that of the whole, ``rho = 2r / (1 + r)``, floored at 0: the
``edge_reliability`` a search reports per epoch. Near 0, the edges' individual choices are noise and only what
all edges agree on was learnt; near 1, a second search would make the same per-edge choices. (The logits' own
changes would not do: under the latency constraint's multiplier they swing back and forth between epochs, and
their halves anti-correlate.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["SplitHalf", "pools"]


def pools(choices: Iterable[Any]) -> list[list[str]]:
    """Keys of the relaxed choices grouped by their candidate list (only groups of two or more can pool)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for choice in choices:
        groups.setdefault(tuple(choice.candidates), []).append(choice.key)
    return [keys for keys in groups.values() if len(keys) > 1]


def _deviations(logits: Mapping[str, Tensor], groups: Sequence[Sequence[str]]) -> Tensor:
    """Every pooled choice's logits minus its group's per-candidate mean, flattened."""
    parts = []
    for keys in groups:
        stacked = torch.stack([logits[k].detach().double().cpu() for k in keys])
        parts.append((stacked - stacked.mean(0, keepdim=True)).flatten())
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.double)


class SplitHalf:
    """The evidence of the architecture steps, in two halves by epoch parity, and the reliability they give."""

    def __init__(self, groups: Sequence[Sequence[str]]) -> None:
        self.groups = [list(g) for g in groups]
        self.halves: list[dict[str, Tensor]] = [{}, {}]

    def add(self, epoch: int, evidence: Mapping[str, Tensor]) -> None:
        """Adds one step's evidence (per choice, a vector over its candidates) to the half of ``epoch``'s parity.
        The sums stay on the evidence's device (no host sync per step); :meth:`reliability` reads them."""
        half = self.halves[epoch % 2]
        for k, v in evidence.items():
            v = v.detach()
            half[k] = half[k].to(v.device) + v if k in half else v.clone()  # a resumed state comes on the CPU

    def reliability(self) -> float | None:
        """Spearman-Brown corrected split-half correlation of the per-edge deviations, in [0, 1]; None until
        both halves hold evidence for the pooled choices."""
        if not self.groups or not all(all(k in h for g in self.groups for k in g) for h in self.halves):
            return None
        a, b = (_deviations(h, self.groups) for h in self.halves)
        if float(a.std()) == 0.0 or float(b.std()) == 0.0:
            return 0.0
        r = float(torch.corrcoef(torch.stack([a, b]))[0, 1])
        return max(0.0, 2 * r / (1 + r)) if r > -1 else 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"halves": [{k: v.cpu() for k, v in h.items()} for h in self.halves]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.halves = [dict(h) for h in state["halves"]]
