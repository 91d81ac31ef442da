"""GAS's GCN-guided module (GGM): cells' architecture parameters talk to their predecessor's.

For cell ``k`` the graph holds the entries of alpha_{k-1} and alpha_k (each ``E x O``: edges by operations).
The adjacency is a learned similarity, ``A = softmax_rows(phi(X) phi'(X)^T)``; one graph convolution gives
``Z = A X W``; cell k's part of ``Z``, mapped back to ``E x O``, is added: ``alpha'_k = alpha_k + gamma Z_k``.
Cell 0 has no predecessor and talks to itself. Used during search only.

The graph holds the choices of granularity ``op`` only (GAS's alpha); any other choice (dcnas' paths, PC-DARTS'
edge weights) is passed through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gasnas.api import IncompatibleComponentsError
from gasnas.api.communicator import Communicator, cells_of
from gasnas.api.space import RelaxedChoice

__all__ = ["GCNCommunicator", "NoCommunication"]


class NoCommunication(Communicator):
    """alpha' = alpha."""

    def __init__(self, options: object = None, choices: Sequence[RelaxedChoice] = ()) -> None:
        super().__init__(choices)

    def forward(self, alphas: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return dict(alphas)


class GCNCommunicator(Communicator):
    """One graph-convolution layer over the architecture entries of adjacent cells (weights shared by cells);
    choices of a granularity other than ``op`` pass through."""

    def __init__(self, options, choices: Sequence[RelaxedChoice]) -> None:
        super().__init__(choices)
        self.options = options
        ops = [c for c in choices if c.granularity == "op"]
        self.cells = [[c.key for c in cell] for cell in cells_of(ops)]
        widths = {len(c.candidates) for c in ops}
        edges = {len(cell) for cell in self.cells}
        if len(widths) != 1 or len(edges) != 1:
            raise IncompatibleComponentsError(
                "communicator 'gcn' needs every cell to have the same number of edges and of candidate operations "
                f"(found edges per cell {sorted(edges)}, candidates per edge {sorted(widths)}, counting the choices "
                "of granularity 'op'); use communicator 'none' with this space")
        self.edges, self.ops = edges.pop(), widths.pop()
        entries = options.nodes == "entries"
        features = 1 + self.ops + self.edges if entries else self.ops
        # what the convolution carries: every feature, or (entries) the logit alone -- then a zero alpha gets a
        # zero update and W cannot learn one op preference that every cell shares through the identity features
        self.carried = 1 if entries and options.propagate == "logits" else features
        out = 1 if entries else self.ops
        self.phi = nn.Linear(features, options.embedding, bias=False)
        self.phi_prime = nn.Linear(features, options.embedding, bias=False)
        self.weight = nn.Linear(self.carried, out, bias=False)
        nn.init.normal_(self.weight.weight, std=0.01)
        gamma = torch.tensor(float(options.gamma))
        if options.learn_gamma:
            self.gamma = nn.Parameter(gamma)
        else:
            self.register_buffer("gamma", gamma)
        if options.nodes == "entries":  # identity features of each (edge, op) entry: fixed one-hots
            op_id = torch.eye(self.ops).repeat(self.edges, 1)
            edge_id = torch.eye(self.edges).repeat_interleave(self.ops, dim=0)
            self.register_buffer("identity", torch.cat([op_id, edge_id], dim=1))

    def _features(self, alpha: Tensor) -> Tensor:
        """Node features of one cell's ``E x O`` alpha."""
        if self.options.nodes == "edges":
            return alpha
        return torch.cat([alpha.reshape(-1, 1), self.identity], dim=1)

    def _convolve(self, previous: Tensor | None, current: Tensor) -> Tensor:
        x = self._features(current) if previous is None else torch.cat(
            [self._features(previous), self._features(current)], dim=0)
        adjacency = F.softmax(self.phi(x) @ self.phi_prime(x).t(), dim=1)
        z = self.weight(adjacency @ x[:, :self.carried])
        z_current = z[-self.edges * self.ops:] if self.options.nodes == "entries" else z[-self.edges:]
        return current + self.gamma * z_current.reshape(self.edges, self.ops)

    def forward(self, alphas: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out = dict(alphas)  # what the graph does not hold passes through
        previous: Tensor | None = None
        for keys in self.cells:
            current = torch.stack([alphas[k] for k in keys])
            updated = self._convolve(previous, current)
            out.update(zip(keys, updated.unbind(0)))
            previous = updated if self.options.previous == "communicated" else current
        return out
