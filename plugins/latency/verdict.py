"""Whether a latency check met its targets -- or whether the machine could not rank the architectures at all.

An estimator can agree with a measurement no better than the measurement agrees with itself. ``gasnas latency
check`` measures the ground truth twice; when the two measurements do not agree to the ground truth's targets
(:class:`Targets`), the machine cannot rank these architectures at this spread, and the estimator is not judged:
the verdict says so and what to change (:func:`advice`). Plain numbers in, plain text out: no timing here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Targets", "Verdict", "judge", "advice", "repeatable"]

#: what a verdict can say
MET, NOT_MET, CANNOT_RANK, NO_TARGET = "met", "not met", "cannot rank", "no target"


@dataclass(frozen=True)
class Targets:
    """The calibrated ``lut``'s targets, judged wherever the ground truth measured twice meets its own."""

    #: share (0-1) of architectures the calibrated lut predicts within +-10% of the measurement
    within: float = 0.95
    #: Kendall tau of the calibrated lut against the measurement
    tau: float = 0.90
    #: the ground truth measured twice: share within +-10% of itself, and its tau against itself
    truth_within: float = 0.95
    truth_tau: float = 0.95

    def describe(self) -> str:
        return (f"calibrated lut >= {self.within:.0%} within +-10% and tau >= {self.tau:g}, wherever the ground "
                f"truth measured twice reaches >= {self.truth_within:.0%} and tau >= {self.truth_tau:g}")


@dataclass(frozen=True)
class Verdict:
    """``status`` (met, not met, cannot rank, no target), a sentence saying why, and what to change."""

    status: str
    text: str
    advice: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "advice": list(self.advice)}


def repeatable(repeatability: Mapping[str, float], targets: Targets = Targets()) -> bool:
    """Whether the ground truth measured twice agrees with itself to ``targets``."""
    return repeatability["within_10"] >= targets.truth_within and repeatability["kendall_tau"] >= targets.truth_tau


def advice(conditions: Mapping[str, Any] | None, rounds: int = 1, sampler: str = "spread") -> tuple[str, ...]:
    """What to change so that the machine can rank the architectures, given how they were measured
    (``conditions``: the ground truth's ``threads``, ``statistic``, ``clock`` and ``calls``, when known)."""
    conditions = conditions or {}
    out = ["time on an idle machine (nothing else running: `uptime` shows a load under 1 per core)"]
    threads = conditions.get("threads")
    if threads is not None and threads > 1:
        out.append(f"time with one thread (now {threads}): --set latency.params.threads=1 "
                   "--set latency.measure.params.threads=1")
    statistic = conditions.get("statistic")
    if statistic in ("median", "mean"):
        out.append(f"use the robust statistic (now the {statistic}): --set latency.params.statistic=min "
                   "--set latency.measure.params.statistic=min")
    if conditions.get("clock") == "wall" and threads == 1:
        out.append("read one thread by its CPU time, which leaves out the time other processes take: "
                   "--set latency.params.clock=auto --set latency.measure.params.clock=auto")
    if conditions.get("calls") == "blocked":
        out.append("time the networks interleaved, one call of each per sweep: --set latency.params.calls=interleaved "
                   "--set latency.measure.params.calls=interleaved")
    if rounds < 5:
        out.append(f"measure in more interleaved rounds (now {rounds}): --rounds 5")
    if sampler != "spread":
        out.append(f"spread the architectures over the range (now {sampler}): --sampler spread")
    return tuple(out)


def judge(repeatability: Mapping[str, float] | None, lut: Mapping[str, Any] | None, targets: Targets = Targets(),
          conditions: Mapping[str, Any] | None = None, rounds: int = 1, sampler: str = "spread") -> Verdict:
    """The verdict on a check: ``repeatability`` is the ground truth measured twice (``within_10``, ``kendall_tau``;
    None when not measured), ``lut`` the calibrated lut's figures (``within_10``, ``kendall_tau``; None when not
    checked). The machine is judged first: below the ground truth's targets, the estimator is not."""
    if repeatability is not None and not repeatable(repeatability, targets):
        return Verdict(CANNOT_RANK, (
            f"this machine cannot rank these architectures at this spread: the ground truth measured twice agreed "
            f"with itself for {repeatability['within_10']:.0%} within +-10% and a Kendall tau of "
            f"{repeatability['kendall_tau']:.3f} (needed: >= {targets.truth_within:.0%} and >= "
            f"{targets.truth_tau:g}); every estimator is bounded by that, so none is judged"),
            advice(conditions, rounds, sampler))
    unknown = "" if repeatability is not None else \
        " (the ground truth was not measured twice, so whether this machine can rank them is unknown)"
    if lut is None:
        return Verdict(NO_TARGET, "the ground truth repeats to its targets; no calibrated lut was checked"
                       if repeatability is not None else "no calibrated lut was checked" + unknown)
    figures = f"{lut['within_10']:.0%} within +-10%, tau {lut['kendall_tau']:.3f}"
    if lut["within_10"] >= targets.within and lut["kendall_tau"] >= targets.tau:
        return Verdict(MET, f"target met: calibrated lut {figures}" + unknown)
    return Verdict(NOT_MET, (f"target NOT met: calibrated lut {figures} (needed: >= {targets.within:.0%} and >= "
                             f"{targets.tau:g}) although the ground truth repeats to its own targets" if not unknown
                             else f"target NOT met: calibrated lut {figures}" + unknown),
                   () if not unknown else advice(conditions, rounds, sampler))
