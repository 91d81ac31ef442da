"""Communicator plugins: ``gcn`` (GAS's GCN-guided module) and ``none`` (plain cell-independent search)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gasnas import hookimpl
from gasnas.api import check_ranges, option


@dataclass(frozen=True)
class GCNOptions:
    """GAS's GCN-guided module (GGM); the paper does not publish gamma or the embedding size: ours."""

    gamma: float = option(0.5, "weight of the graph convolution's output added to alpha_k (0: none; the learnt W "
                               "carries the sign)", ge=0)
    learn_gamma: bool = option(False, "train gamma with the architecture parameters")
    embedding: int = option(16, "size of the phi / phi' embeddings whose dot products give the adjacency", ge=1)
    nodes: Literal["entries", "edges"] = option(
        "entries", "graph nodes: every (edge, op) entry of alpha (features: value, op and edge identity), "
                   "or every edge (features: its row of op logits)")
    propagate: Literal["logits", "features"] = option(
        "logits", "what the graph convolution carries with nodes 'entries': each entry's logit alone (the identity "
                  "features only shape the adjacency; a zero alpha gets a zero update), or all its features (W "
                  "can then learn one op preference shared by every cell)")
    previous: Literal["original", "communicated"] = option(
        "original", "read cell k-1's original alpha, or its already communicated alpha' (a chain)")

    def __post_init__(self) -> None:
        check_ranges(self)


@hookimpl
def gasnas_register_communicators(registry) -> None:
    registry.add("gcn", "gasnas_plugins.communicators.gcn:GCNCommunicator", options=GCNOptions,
                 description="GAS's GCN-guided module: cell k's alpha is updated by a graph convolution over the "
                             "entries of cells k-1 and k")
    registry.add("none", "gasnas_plugins.communicators.gcn:NoCommunication",
                 description="no communication: plain cell-independent search (the GCN ablation)")
