"""Does a trained supernet rank architectures as retraining from scratch does?

The evolution strategy's fitness is a path's val mIoU on the trained supernet (BN statistics recalibrated on a
few train batches, scored on a few val batches: ``PathScorer``), and the differentiable strategy's final
distribution scores architectures by their log-probability. Either carries information only if it orders
architectures as their accuracy when trained alone does. This reads a finished search's supernet (``--run``)
and the architectures ``search_quality.py`` retrained (``--quality``: its ``architectures/*.yaml`` and
``trains/<id>-s<seed>/summary.json``), and for every architecture of the run's space with at least one finished
retraining gives its mean retrained val mIoU over seeds beside

- its supernet score under each scorer setting of ``--settings`` (``bn=B,val=V``: B train batches recalibrate
  the BN statistics, V val batches score it, ``val=all`` the whole val split; ``bn=2,val=2`` is evolution's
  default, and reproduces its scores on an evolution run): the evaluator's val metric and the val
  cross-entropy, a second fitness (negated in the correlations: lower is better);
- for a run whose strategy exports an architecture distribution (``differentiable``), the log-probability of
  the architecture under the run's final distribution (what the derivation exports as ``log_probability``).

For each score it prints Kendall's tau-b and Spearman's rho against the retrained means, each with a one-sided
permutation p-value over architectures (the share of ``--permutations`` seeded shufflings of the retrained
means whose correlation is at least the observed one: how often chance alone ranks as well).

    python benchmarks/supernet_ranking.py --run runs/search-quality/searches/evolution \\
        --quality runs/search-quality [--settings bn=2,val=2 bn=8,val=2 bn=8,val=all] [--report FILE]
        [--permutations 2000] [--seed 0] [--device cpu] [--json FILE]

``--report``: search_quality.py's ``--json`` output, whose networks name each architecture's kind (searched,
all-conv, all-skip, random); without it only the run's own searched architecture is named. One thread; a few
seconds per architecture and setting on a CPU at the quickstart's size (``val=all`` longer).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

#: a retraining's run directory under ``trains/``: ``<architecture id>-s<seed>`` (retraining.retrain)
TRAIN_NAME = re.compile(r"^(?P<id>[0-9a-f]{12})-s(?P<seed>\d+)$")
DEFAULT_SETTINGS = ["bn=2,val=2", "bn=8,val=2", "bn=8,val=all"]
LOG_PROBABILITY = "log p"


# -- rank correlation ---------------------------------------------------------------------------------------------

def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values``, ties sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start:end + 1]:
            ranks[i] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _check_pair(x: Sequence[float], y: Sequence[float]) -> None:
    if len(x) != len(y):
        raise ValueError(f"rank correlation of sequences of different lengths ({len(x)} and {len(y)})")


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b: (concordant - discordant pairs) / sqrt((pairs - ties in x) (pairs - ties in y)); NaN when
    either sequence is constant or shorter than 2."""
    _check_pair(x, y)
    concordant = discordant = ties_x = ties_y = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0:
                ties_x += 1
            if dy == 0:
                ties_y += 1
            if dx * dy > 0:
                concordant += 1
            elif dx * dy < 0:
                discordant += 1
    pairs = n * (n - 1) // 2
    denominator = math.sqrt((pairs - ties_x) * (pairs - ties_y))
    return (concordant - discordant) / denominator if denominator > 0 else math.nan


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: Pearson's correlation of the average ranks (ties share theirs); NaN when either sequence
    is constant or shorter than 2."""
    _check_pair(x, y)
    rx, ry = average_ranks(x), average_ranks(y)
    if len(rx) < 2:
        return math.nan
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


def permutation_p(x: Sequence[float], y: Sequence[float], statistic: Callable[[Sequence[float], Sequence[float]],
                  float], permutations: int, seed: int) -> float:
    """One-sided permutation p-value of ``statistic(x, y)``: (1 + the shufflings of ``y`` scoring at least the
    observed value) / (1 + ``permutations``), from ``random.Random(seed)``; NaN when the statistic is."""
    observed = statistic(x, y)
    if math.isnan(observed):
        return math.nan
    rng = random.Random(seed)
    shuffled = list(y)
    hits = 0
    for _ in range(permutations):
        rng.shuffle(shuffled)
        if statistic(x, shuffled) >= observed - 1e-12:
            hits += 1
    return (hits + 1) / (permutations + 1)


def correlation(scores: Sequence[float], truth: Sequence[float], permutations: int, seed: int) -> dict[str, float]:
    """tau, rho and their permutation p-values of ``scores`` against ``truth`` (pairs with a NaN left out)."""
    pairs = [(s, t) for s, t in zip(scores, truth) if not (math.isnan(s) or math.isnan(t))]
    x, y = [p[0] for p in pairs], [p[1] for p in pairs]
    return {"n": len(pairs), "tau": kendall_tau(x, y), "tau_p": permutation_p(x, y, kendall_tau, permutations, seed),
            "rho": spearman_rho(x, y), "rho_p": permutation_p(x, y, spearman_rho, permutations, seed)}


# -- inputs -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """A scorer setting: ``bn`` calibration batches, ``val`` val batches (None: the whole split)."""

    bn: int
    val: int | None

    @property
    def label(self) -> str:
        return f"bn={self.bn},val={'all' if self.val is None else self.val}"

    @classmethod
    def parse(cls, text: str) -> Setting:
        """``bn=B,val=V`` (V a count or ``all``); a ValueError naming what is wrong otherwise."""
        fields = dict(part.split("=", 1) if "=" in part else (part, "") for part in text.split(","))
        if set(fields) != {"bn", "val"}:
            raise ValueError(f"scorer setting '{text}': expected bn=B,val=V (e.g. bn=2,val=2 or bn=8,val=all)")
        try:
            bn = int(fields["bn"])
            val = None if fields["val"] == "all" else int(fields["val"])
        except ValueError:
            raise ValueError(f"scorer setting '{text}': bn takes a count, val a count or 'all'") from None
        if bn < 0 or (val is not None and val < 1):
            raise ValueError(f"scorer setting '{text}': bn must be >= 0 and val >= 1 (or 'all')")
        return cls(bn, val)


@dataclass
class Candidate:
    """An architecture of the quality directory: its retrained val mIoU per seed and its supernet scores."""

    id: str
    sample: dict[str, Any]
    kind: str = ""
    miou: dict[int, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def retrained(self) -> float:
        return statistics.fmean(self.miou.values())


def retrainings(trains: Path) -> dict[str, dict[int, float]]:
    """Architecture id -> seed -> the final val mIoU of every finished retraining under ``trains``."""
    found: dict[str, dict[int, float]] = {}
    for folder in sorted(trains.iterdir()) if trains.is_dir() else []:
        match = TRAIN_NAME.match(folder.name)
        summary = folder / "summary.json"
        if match is None or not summary.is_file():
            continue
        try:
            miou = float(json.loads(summary.read_text())["last"]["val_miou"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{summary}: no final val mIoU (last.val_miou) in it: {exc}") from None
        found.setdefault(match["id"], {})[int(match["seed"])] = miou
    return found


def kinds_of(report: Path | None) -> list[tuple[dict[str, Any], str]]:
    """(sample, kind) of every network in search_quality.py's JSON report (none without one)."""
    if report is None:
        return []
    data = json.loads(report.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
        raise ValueError(f"{report}: not a search_quality.py --json report (no 'settings' mapping)")
    return [(n["sample"], f"{setting}: {n['kind']}") for setting, body in data["settings"].items()
            for n in body.get("networks", [])]


def candidates(quality: Path, space_name: str, space_params: dict[str, Any], searched: dict[str, Any],
               named: list[tuple[dict[str, Any], str]]) -> tuple[list[Candidate], list[str]]:
    """The architectures of ``quality`` in the run's space with a finished retraining, and what was skipped."""
    from gasnas.architecture import Architecture

    folder = quality / "architectures"
    if not folder.is_dir():
        raise ValueError(f"{quality}: no architectures/ folder; pass a search_quality.py --out directory")
    trained = retrainings(quality / "trains")
    out, skipped = [], []
    for path in sorted(folder.glob("*.yaml")):
        arch = Architecture.load(path)
        if arch.space_name != space_name or dict(arch.space_params) != space_params:
            skipped.append(f"{path.name}: space '{arch.space_name}' {dict(arch.space_params)}, not the run's "
                           f"'{space_name}' {space_params}")
            continue
        if arch.id not in trained:
            skipped.append(f"{path.name}: no finished retraining under {quality / 'trains'}")
            continue
        kinds = [kind for sample, kind in named if sample == dict(arch.sample)]
        if dict(arch.sample) == searched:
            kinds.append("this run's architecture")
        out.append(Candidate(arch.id, dict(arch.sample), "; ".join(dict.fromkeys(kinds)), trained[arch.id]))
    return out, skipped


# -- scoring ------------------------------------------------------------------------------------------------------

def scorer_for(strategy: Any, ctx: Any, setting: Setting) -> Any:
    """A PathScorer on the run's supernet: ``setting.bn`` calibration batches drawn as the evolution strategy
    draws them (its loader stream), the first ``setting.val`` val batches (or the whole split)."""
    from gasnas_plugins.strategies.evolution.scoring import PathScorer
    from gasnas_plugins.strategies.evolution.strategy import CALIBRATION_STREAM

    calibration = ctx.loader("train", train=False, shuffle=True, drop_last=True, stream=CALIBRATION_STREAM)
    validation = ctx.loader("val", train=False)
    return PathScorer(strategy.supernet, ctx.evaluator, ctx.dataset, ctx.device,
                      list(islice(calibration, setting.bn)),
                      validation if setting.val is None else list(islice(validation, setting.val)),
                      getattr(strategy.options, "resize", 1.0), ctx.dataset.ignore_index)


def score_all(strategy: Any, ctx: Any, networks: list[Candidate], settings: Iterable[Setting]) -> list[str]:
    """Fill every candidate's scores; returns the score names, the log-probability last when the strategy has an
    architecture distribution (``probabilities()``)."""
    import torch

    from gasnas.api.space import log_scores
    from gasnas_plugins.strategies.derivation import log_probability

    metric = ctx.evaluator.primary_metric
    names = []
    for setting in settings:
        scorer = scorer_for(strategy, ctx, setting)
        names += [f"{setting.label} {metric}", f"{setting.label} -loss"]
        started = time.perf_counter()
        for n in networks:
            result = scorer.score(n.sample)
            n.scores[names[-2]], n.scores[names[-1]] = float(result[metric]), -float(result["loss"])
        print(f"  {setting.label}: {len(networks)} architectures scored in {time.perf_counter() - started:.0f} s",
              flush=True)
    if callable(getattr(strategy, "probabilities", None)):
        with torch.no_grad():
            logp = log_scores(strategy.probabilities())
        names.append(LOG_PROBABILITY)
        for n in networks:
            n.scores[LOG_PROBABILITY] = log_probability(strategy.supernet, n.sample, logp)
    return names


# -- report -------------------------------------------------------------------------------------------------------

def architecture_table(networks: list[Candidate], names: list[str]) -> str:
    """A markdown table, best retrained first: id, kind, seeds, retrained mean, every score."""
    lines = ["| id | kind | seeds | retrained val mIoU | " + " | ".join(names) + " |",
             "|---|---|---|---|" + "---|" * len(names)]
    for n in sorted(networks, key=lambda n: -n.retrained):
        scores = " | ".join(f"{n.scores[k]:.4f}" for k in names)
        lines.append(f"| {n.id} | {n.kind or '-'} | {len(n.miou)} | {n.retrained:.4f} | {scores} |")
    return "\n".join(lines)


def at_equal_latency(kind: str) -> bool:
    """Whether a candidate of ``kind`` (search_quality's names, ``;``-joined) is one a search chooses among: a
    searched or a random architecture (within the latency window), not all-conv or all-skip."""
    parts = [k.strip() for k in kind.split(";") if k.strip()]
    return any(k.endswith(("searched", "random")) or k == "this run's architecture" for k in parts)


def correlation_table(correlations: dict[str, dict[str, float]]) -> str:
    lines = ["| score | n | Kendall tau | p | Spearman rho | p |", "|---|---|---|---|---|---|"]
    for name, c in correlations.items():
        lines.append(f"| {name} | {c['n']} | {c['tau']:+.3f} | {c['tau_p']:.3f} | {c['rho']:+.3f} | "
                     f"{c['rho_p']:.3f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished search's run directory")
    parser.add_argument("--quality", type=Path, required=True, help="a search_quality.py --out directory")
    parser.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS,
                        help="scorer settings bn=B,val=V (V: a count or all)")
    parser.add_argument("--report", type=Path, help="search_quality.py's --json report (names the kinds)")
    parser.add_argument("--permutations", type=int, default=2000, help="shufflings of each permutation test")
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutation tests")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    try:
        settings = [Setting.parse(s) for s in args.settings]
    except ValueError as exc:
        parser.error(f"--settings: {exc}")
    for flag, path in (("--run", args.run), ("--quality", args.quality)):
        if not path.is_dir():
            parser.error(f"{flag}: {path} is not a directory")
    if args.report is not None and not args.report.is_file():
        parser.error(f"--report: {args.report} is not a file")

    import torch

    from gasnas.architecture import Architecture
    from gasnas.engine import Engine
    from gasnas.errors import GasnasError
    from gasnas.options import options_to_dict
    from gasnas.reporting import NullReporter

    torch.set_num_threads(1)
    try:
        engine = Engine.resume(args.run, reporter=NullReporter(), device=args.device, threads=1)
        config = engine.config
        params = options_to_dict(config.space.params) if config.space.params is not None else {}
        searched_file = args.run / "architecture.yaml"
        searched = dict(Architecture.load(searched_file).sample) if searched_file.is_file() else {}
        networks, skipped = candidates(args.quality, config.space.name, params, searched, kinds_of(args.report))
        for line in skipped:
            print(f"skipped {line}", flush=True)
        if len(networks) < 2:
            raise SystemExit(f"error: {args.quality}: {len(networks)} architecture(s) of the run's space with a "
                             "finished retraining; ranking needs at least 2")
        strategy, ctx = engine.restore()
    except (GasnasError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"supernet of {args.run} (strategy '{config.strategy.name}', space '{config.space.name}'); "
          f"{len(networks)} retrained architectures from {args.quality}", flush=True)
    names = score_all(strategy, ctx, networks, settings)
    truth = [n.retrained for n in networks]
    correlations = {name: correlation([n.scores[name] for n in networks], truth, args.permutations, args.seed)
                    for name in names}
    print(f"\n{architecture_table(networks, names)}\n\n{correlation_table(correlations)}\n", flush=True)
    # all-conv and all-skip sit far from the searched latency and rank trivially; what a search chooses among is
    # the rest: architectures of about the searched latency
    equal = [n for n in networks if at_equal_latency(n.kind)]
    equal_correlations = {}
    if 3 <= len(equal) < len(networks):
        equal_correlations = {name: correlation([n.scores[name] for n in equal], [n.retrained for n in equal],
                                                args.permutations, args.seed) for name in names}
        print(f"at equal latency (searched and random architectures only):\n\n"
              f"{correlation_table(equal_correlations)}\n", flush=True)
    print(f"p: one-sided permutation test over architectures ({args.permutations} shufflings, seed {args.seed}); "
          "-loss: the val cross-entropy negated (lower is better)", flush=True)
    report = {"run": str(args.run), "strategy": config.strategy.name, "quality": str(args.quality),
              "metric": ctx.evaluator.primary_metric, "settings": [s.label for s in settings], "scores": names,
              "architectures": [{"id": n.id, "kind": n.kind, "miou": n.miou, "retrained": n.retrained,
                                 "scores": n.scores, "sample": n.sample} for n in networks],
              "correlations": correlations, "correlations_equal_latency": equal_correlations,
              "skipped": skipped, "permutations": args.permutations, "seed": args.seed}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
