"""NNI's latency penalty, fed with gasnas's latency table, for like-for-like comparisons.

NNI's DARTS takes ``penalty=ExpectationProfilerPenalty(profiler, baseline, scale)``: the profiler must be an
``ExpressionProfiler`` whose expression NNI evaluates under the exported probabilities. :func:`latency_profiler`
builds that expression from the space's block description (``cost_terms``) and the configured block-table
estimator -- the same costs gasnas's differentiable latency term uses -- over the labels NNI's supernet exports:
a ``LayerChoice`` or ``nni.choice``'s label, and ``<cell>/<node>_<input>`` for a cell edge.

NNI 3.0 computes the penalty from ``export_probs()``, which detaches the probabilities (``.cpu().tolist()``),
so the term is a constant in the loss and the architecture does not move; see the "Coming from NNI" docs.
"""

from __future__ import annotations

import re
from typing import Any

from nni.mutable.symbol import SymbolicExpression
from nni.nas.profiler import ExpressionProfiler

from gasnas.api import LatencyError
from gasnas.api.space import SearchSpace
from gasnas_plugins.strategies.nni.spaces import nni_choice

__all__ = ["GasnasCostProfiler", "latency_profiler"]

_EDGE = re.compile(r"^(?P<cell>.+)/edge_(?P<node>\d+)_(?P<source>\d+)$")


class GasnasCostProfiler(ExpressionProfiler):
    """An NNI ``ExpressionProfiler`` whose expression is a gasnas block-cost sum."""

    def __init__(self, expression: Any) -> None:
        self.expression = expression


def _label(key: str) -> str:
    """The label NNI's one-shot supernet exports probabilities under for a gasnas relaxed key."""
    edge = _EDGE.match(key)
    return f"{edge['cell']}/{edge['node']}_{edge['source']}" if edge else key


def _exported_values(space: SearchSpace, choices: list[Any]) -> dict[str, list[Any]]:
    """Label -> values, as NNI's supernet exports them: a cell edge's operation names (no "no edge"), a
    label's values."""
    out = {}
    for c in choices:
        if _EDGE.match(c.key):
            out[_label(c.key)] = [name for i, name in enumerate(c.candidates) if i != c.zero]
        else:
            known = space.choices().get(c.key)
            out[c.key] = list(known.values) if known is not None else list(c.candidates)
    return out


def latency_profiler(space: SearchSpace, estimator: Any, input_shape: tuple[int, ...],
                     num_classes: int) -> GasnasCostProfiler:
    """The expected block cost (the estimator's unit) as an NNI expression over NNI's exported labels."""
    if not hasattr(estimator, "terms") or not hasattr(estimator, "block_cost"):
        raise LatencyError(f"strategy.params.penalty needs a block-table latency estimator (lut or flops); "
                           f"{type(estimator).__name__} times whole networks")
    choices = list(space.build_supernet(num_classes).relaxed_choices())
    names = {c.key: c.candidates for c in choices}
    nni_values = _exported_values(space, choices)
    constant = 0.0
    expression: Any = 0.0
    for term in estimator.terms(space, input_shape, None):
        costs = [term.weight * sum(estimator.block_cost(b) for b in candidate) for candidate in term.candidates]
        if term.key is None:
            constant += costs[0]
            continue
        label = _label(term.key)
        values = nni_values.get(label)
        if values is None:
            raise LatencyError(f"latency term '{term.key}' has no counterpart among the labels NNI's supernet "
                               "exports; NNI's penalty cannot express it")
        by_name = dict(zip(names[term.key], costs))
        cases = {v: float(by_name[str(v)]) for v in values if str(v) in by_name}
        expression = expression + SymbolicExpression.switch_case(nni_choice(label, list(values)), cases)
    return GasnasCostProfiler(expression + constant)
