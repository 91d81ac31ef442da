"""Where one search step of the ``differentiable`` strategy spends its time and memory, phase by phase.

The steps are the strategy's own: the quickstart config is loaded (with the case's space, size and batch as
overrides), the engine builds its components, the strategy sets itself up on the engine's context, and each step
is what ``DifferentiableSearch.train_epoch`` runs in a search epoch -- the next weight batch and architecture
batch from the strategy's loaders, ``arch_step`` (the quickstart's ``sampled`` relaxation: 4 paths forward
without gradients, the score-function surrogate, the latency term, Adam on the architecture and the GCN), then
``weight_step`` (one path drawn, CE, backward, the weights' optimizer). Nothing is re-implemented: the phases
are told apart by wrapping the strategy's own methods (``logits``, ``mixing``, ``_ce``, ``_latency``,
``_backward_with_evidence``, the two optimizers) and ``Tensor.backward`` / ``torch.autograd.grad`` for the
duration of a step. Time goes to the innermost phase open, so the phases add up to the step; what no wrapper
covers (sampling, the surrogate, ``float()`` of the statistics) is the step's ``other``. The latency term is
E[LAT] (the estimator's ``expected(...)``), its gradient (computed apart by the strategy) and the multiplier's
update; the backward of the whole loss also runs through E[LAT]'s small graph, inside ``backward``.

The latency estimator is ``flops`` by default: its ``expected(...)`` is the same ``ExpectedLatency`` module over
the same cost terms as the quickstart's ``lut`` -- only the numbers in the cost buffers differ, not the work --
and it needs no timed table (which at 512 x 1024 would take longer than the profile). ``--latency lut`` uses
the quickstart's timed table (measured first when not cached).

Times come from ``time.perf_counter`` around each phase (synchronised on CUDA), averaged over ``--steps`` steps
after ``--warmup`` untimed ones. One more step runs under ``torch.profiler`` for the operators and, on a CPU,
the memory: a phase's peak is the most bytes allocated during the step and still held at any moment of the
phase, counted from the step's start (weights and optimizer state allocated before are not counted). On CUDA
the peak is ``max_memory_allocated`` during the phase minus what was allocated at the step's start.

    python benchmarks/search_profile.py [--quick] [--steps N] [--device cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIB = 2**20


@dataclass(frozen=True)
class Case:
    """A profiled configuration: space preset, batch, scene size and training crop (height, width)."""

    preset: str
    batch: int
    size: tuple[int, int]
    crop: tuple[int, int]

    @property
    def title(self) -> str:
        return f"{self.preset}, {self.crop[0]}x{self.crop[1]} crops, batch {self.batch}"


def cases(quick: bool, size: tuple[int, int] | None = None, batch: int | None = None) -> dict[str, Case]:
    """The quickstart's search (digit-scenes 128 x 256, its 64 x 128 training crops, batch 16) and a Cityscapes
    crop for ``gas-paper`` (512 x 1024, batch 2; 128 x 256 with ``quick``); ``size`` (scenes and crops) and
    ``batch`` replace every case's own (the test's tiny cases)."""
    paper = (128, 256) if quick else (512, 1024)
    chosen = {"gas-tiny": Case("gas-tiny", 16, (128, 256), (64, 128)), "gas-paper": Case("gas-paper", 2, paper, paper)}
    return {name: Case(c.preset, batch or c.batch, size or c.size, size or c.crop) for name, c in chosen.items()}


#: phases in the order a step runs them: (step part, phase)
ORDER = [("data", "loader"), ("arch", "communicator"), ("arch", "forward"), ("arch", "latency term"),
         ("arch", "backward"), ("arch", "optimizer"), ("arch", "other"), ("weight", "mixing"),
         ("weight", "communicator"), ("weight", "forward"), ("weight", "backward"), ("weight", "optimizer"),
         ("weight", "other")]


class Phases:
    """Exclusive time (and CUDA peak memory) per phase: a stack of open phases, time going to the innermost.

    Each stretch of a phase is also a ``record_function`` range named ``gasnas/<part>: <phase>`` when
    ``ranges`` is on, so that a profile's operators and memory events fall in exactly one phase."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.cuda = device.startswith("cuda")
        self.ranges = False
        self.ms: dict[str, float] = defaultdict(float)
        self.peak: dict[str, int] = defaultdict(int)
        self.stack: list[str] = []
        self.since = 0.0
        self.base = 0
        self.range: Any = None

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def start_step(self) -> None:
        self.sync()
        if self.cuda:
            self.base = self.torch.cuda.memory_allocated()

    def part(self) -> str:
        """The step part (``arch`` or ``weight``) the innermost open phase belongs to."""
        return self.stack[-1].split(":")[0] if self.stack else "step"

    def _open(self) -> None:
        if self.ranges:
            self.range = self.torch.profiler.record_function(f"gasnas/{self.stack[-1]}")
            self.range.__enter__()
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()
        self.since = time.perf_counter()

    def _close(self) -> None:
        self.sync()
        name = self.stack[-1]
        self.ms[name] += (time.perf_counter() - self.since) * 1e3
        if self.cuda:
            self.peak[name] = max(self.peak[name], self.torch.cuda.max_memory_allocated() - self.base)
        if self.range is not None:
            self.range.__exit__(None, None, None)
            self.range = None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if self.stack:
            self._close()
        self.stack.append(name)
        self._open()
        try:
            yield
        finally:
            self._close()
            self.stack.pop()
            if self.stack:
                self._open()

    def wrap(self, fn: Callable, phase: str, part: str | None = None) -> Callable:
        """``fn`` run as ``phase`` of ``part`` (default: the part of the phase it is called from)."""
        def wrapped(*args, **kwargs):
            with self.phase(f"{part or self.part()}: {phase}"):
                return fn(*args, **kwargs)
        return wrapped


@contextmanager
def instrumented(strategy, phases: Phases) -> Iterator[None]:
    """The strategy's methods, its optimizers and torch's backward entry points timed as phases; undone on exit."""
    import torch

    own = {"arch_step": ("other", "arch"), "weight_step": ("other", "weight"), "logits": ("communicator", None),
           "mixing": ("mixing", None), "_ce": ("forward", None), "_latency": ("latency term", None),
           "_after_latency_step": ("latency term", None), "_backward_with_evidence": ("backward", None)}
    for name, (phase, part) in own.items():
        setattr(strategy, name, phases.wrap(getattr(strategy, name), phase, part))
    for opt in (strategy.arch_opt, strategy.weight_opt):
        opt.step = phases.wrap(opt.step, "optimizer")
        opt.zero_grad = phases.wrap(opt.zero_grad, "optimizer")
    backward, grad = torch.Tensor.backward, torch.autograd.grad
    torch.Tensor.backward = phases.wrap(backward, "backward")
    torch.autograd.grad = phases.wrap(grad, "latency term")  # the strategy's one use: the latency term's share
    try:
        yield
    finally:
        torch.Tensor.backward, torch.autograd.grad = backward, grad
        for name in own:
            del strategy.__dict__[name]
        for opt in (strategy.arch_opt, strategy.weight_opt):
            del opt.__dict__["step"], opt.__dict__["zero_grad"]


def build(case: Case, device: str, latency: str, scenes: int, cache: Path):
    """The quickstart's engine, context and strategy for ``case``, set up as a search would set them up."""
    from gasnas.config import default_config_path, load_config
    from gasnas.engine import Engine, EngineContext, resolve_device
    from gasnas.reporting import NullReporter
    from gasnas.seeding import seed_everything

    (h, w), (ch, cw) = case.size, case.crop
    overrides = [f"space.params={{preset: {case.preset}}}", f"budget.batch_size={case.batch}", f"output={cache}",
                 f"dataset.params={{size: [{h}, {w}], train_size: {scenes}, val_size: 1, test_size: 1, "
                 f"cache_dir: '{cache}', augment: {{scale: [0.75, 1.25], crop: [{ch}, {cw}], flip: false}}}}",
                 "latency.measure=null"]
    if latency == "flops":
        overrides += ["latency.name=flops", "latency.params={}"]
    config = load_config(default_config_path(), overrides)
    engine = Engine(config, reporter=NullReporter(), device=device)
    engine.device = resolve_device(device)
    seed_everything(config.seed)
    engine._build()
    shape = (1, 3, *engine.dataset.input_size)
    engine.latency.prepare(engine.space, shape)
    engine.latency_target = engine._resolve_target(shape)
    seed_everything(config.seed)
    ctx = EngineContext(engine)
    strategy = engine.strategy
    strategy._setup(ctx)
    return ctx, strategy


def step_runner(ctx, strategy, phases: Phases) -> Callable[[], float]:
    """One step of ``train_epoch`` in a search epoch (the epoch right after the warm-up), as a function returning
    its wall time in ms; the loaders are the strategy's, over its two halves of the train split."""
    epoch = strategy.warmup
    halves = ctx.split_indices("train", 2)
    weight_batches = strategy._batches(ctx, halves[0], epoch, 0)
    arch_batches = strategy._batches(ctx, halves[1], epoch, 1)
    latency = not strategy.options.bilevel
    strategy.supernet.train()

    def step() -> float:
        phases.start_step()
        start = time.perf_counter()
        with phases.phase("data: loader"):
            images, labels = next(weight_batches)
            arch = next(arch_batches)
        strategy.arch_step(*arch, epoch)
        strategy.weight_step(images, labels, epoch, latency=latency)
        phases.sync()
        return (time.perf_counter() - start) * 1e3

    return step


def memory_peaks(events: list[dict]) -> tuple[dict[str, int], int]:
    """Per phase, the most CPU bytes allocated during the step and still held at a moment of that phase (from
    the profiler's ``[memory]`` events and the phases' ranges in its Chrome trace); and the step's peak."""
    ranges = [(e["name"][len("gasnas/"):], e["ts"], e["ts"] + e["dur"]) for e in events
              if e.get("cat") == "user_annotation" and e.get("name", "").startswith("gasnas/")]
    memory = sorted((e["ts"], e["args"]["Total Allocated"], e["args"]["Bytes"]) for e in events
                    if e.get("name") == "[memory]" and e["args"].get("Device Type") == 0)
    if not memory:
        return {}, 0
    base = memory[0][1] - memory[0][2]  # held before the step's first allocation
    peaks: dict[str, int] = defaultdict(int)
    for ts, total, _ in memory:
        for name, start, end in ranges:
            if start <= ts <= end:
                peaks[name] = max(peaks[name], total - base)
    return dict(peaks), max(total for _, total, _ in memory) - base


def top_operators(events: list[dict], step_ms: float, n: int = 5) -> list[dict[str, Any]]:
    """The ``n`` operators with the most self CPU time (their time less their children's) in a Chrome trace.

    Read from the trace rather than ``key_averages()``, which takes longer than the step it describes."""
    threads: dict[tuple, list[tuple[float, float, str, str]]] = defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and e.get("cat") in ("cpu_op", "user_annotation"):
            threads[e["pid"], e["tid"]].append((e["ts"], e["dur"], e["name"], e["cat"]))
    self_us: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)

    def close(span: list) -> None:
        start, dur, name, cat, children = span
        if cat == "cpu_op":
            self_us[name] += dur - children
            calls[name] += 1

    for spans in threads.values():
        stack: list[list] = []  # [start, duration, name, category, children's time]
        for start, dur, name, cat in sorted(spans, key=lambda s: (s[0], -s[1])):
            while stack and stack[-1][0] + stack[-1][1] <= start:
                close(stack.pop())
            if stack:
                stack[-1][4] += dur
            stack.append([start, dur, name, cat, 0.0])
        while stack:
            close(stack.pop())
    ranked = sorted(self_us.items(), key=lambda kv: kv[1], reverse=True)[:n]
    return [{"operator": name, "self_cpu_ms": us / 1e3, "calls": calls[name], "share": us / 1e3 / step_ms}
            for name, us in ranked]


def profile_case(case: Case, device: str, steps: int, warmup: int, latency: str) -> dict[str, Any]:
    """The case's phases: ms per step (mean over ``steps``), share of the step, peak memory; the top operators."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    scenes = 2 * case.batch * (warmup + steps + 1)  # both halves of the split, one batch a step each
    with tempfile.TemporaryDirectory(prefix="search-profile-") as tmp:
        ctx, strategy = build(case, device, latency, scenes, Path(tmp))
        phases = Phases(device)
        step = step_runner(ctx, strategy, phases)
        with instrumented(strategy, phases):
            for _ in range(warmup):
                step()
            phases.ms.clear()
            phases.peak.clear()
            totals = [step() for _ in range(steps)]
            timed = {k: v / steps for k, v in phases.ms.items()}
            cuda_peaks = dict(phases.peak)
            phases.ranges = True
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
            with profile(activities=activities, profile_memory=True) as prof:
                profiled_ms = step()
            phases.ranges = False
            trace = Path(tmp) / "trace.json"
            prof.export_chrome_trace(str(trace))
            events = json.loads(trace.read_text())["traceEvents"]
            cpu_peaks, cpu_step_peak = memory_peaks(events)
        params = sum(p.numel() for p in strategy.supernet.parameters())
    step_ms = sum(totals) / steps
    cuda = device.startswith("cuda")
    peaks = cuda_peaks if cuda else cpu_peaks
    names = [f"{part}: {phase}" for part, phase in ORDER]
    names += sorted(set(timed) - set(names))
    rows = [{"phase": name, "ms": timed[name], "share": timed[name] / step_ms, "peak_mib": peaks.get(name, 0) / MIB}
            for name in names if name in timed]
    return {"case": case.title, "preset": case.preset, "batch": case.batch, "crop": list(case.crop),
            "device": device, "threads": torch.get_num_threads(), "latency": latency, "steps": steps,
            "supernet_parameters": params, "step_ms": step_ms, "phases_ms": sum(r["ms"] for r in rows),
            "step_peak_mib": (max(cuda_peaks.values(), default=0) if cuda else cpu_step_peak) / MIB,
            "profiled_step_ms": profiled_ms, "phases": rows, "top_operators": top_operators(events, profiled_ms)}


def report(result: dict[str, Any]) -> None:
    memory = "max allocated" if result["device"].startswith("cuda") else "peak allocated"
    print(f"\n{result['case']} ({result['supernet_parameters'] / 1e6:.2f} M supernet parameters, "
          f"{result['device']}, {result['threads']} thread(s), latency term: {result['latency']}): "
          f"{result['step_ms']:.1f} ms per step over {result['steps']}")
    print(f"  {'phase':<24}{'ms/step':>10}{'share':>8}{memory + ' MiB':>22}")
    for row in result["phases"]:
        print(f"  {row['phase']:<24}{row['ms']:>10.1f}{row['share']:>8.1%}{row['peak_mib']:>22.1f}")
    print(f"  {'step':<24}{result['step_ms']:>10.1f}{1:>8.1%}{result['step_peak_mib']:>22.1f}")
    print(f"  top operators by self CPU time (profiled step: {result['profiled_step_ms']:.1f} ms):")
    for op in result["top_operators"]:
        print(f"    {op['operator']:<44}{op['self_cpu_ms']:>10.1f} ms{op['share']:>8.1%}  ({op['calls']} calls)")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per case (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--quick", action="store_true", help="gas-paper at 128x256 instead of 512x1024")
    parser.add_argument("--cases", nargs="+", choices=["gas-tiny", "gas-paper"], default=["gas-tiny", "gas-paper"])
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="scenes and crops of every case")
    parser.add_argument("--batch", type=int, help="the batch of every case")
    parser.add_argument("--latency", choices=["flops", "lut"], default="flops",
                        help="the estimator whose expected(...) is the latency term (see the docstring)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")

    import torch

    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    torch.set_num_threads(args.threads)
    chosen = cases(args.quick, tuple(args.size) if args.size else None, args.batch)
    results = {name: profile_case(chosen[name], args.device, args.steps, args.warmup, args.latency)
               for name in args.cases}
    for result in results.values():
        report(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
