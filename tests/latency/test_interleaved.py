"""Interleaved timing: the sweeps of ``time_interleaved``, the batch runtimes, and the ``calls`` option of the
latency estimators (table key, the table's groups, whole networks timed together). No assertion rests on how long
anything took."""

from __future__ import annotations

import contextlib
import json
import logging
import random

import pytest
import torch
from torch import nn

from gasnas.api import export_onnx, summarize, time_interleaved, time_onnxruntime_many, time_torch_many
from gasnas.api.latency import LatencyEnv, LatencyEstimator
from gasnas.api.space import Block
from gasnas.errors import ConfigError, LatencyError
from gasnas.options import parse_options
from gasnas_plugins.latency import DEFAULT_CALLS, LUTOptions, WholeNetworkOptions, groups_of
from gasnas_plugins.latency import whole as whole_module
from gasnas_plugins.latency.flops import FlopsEstimator
from gasnas_plugins.latency.lut import LookupTableEstimator
from gasnas_plugins.latency.whole import OnnxRuntimeEstimator

SHAPE = (1, 3, 32, 64)
FASTEST = dict(warmup=0, repeats=1)


def _sweeps(n: int, *, warmup: int, repeats: int, seed: int):
    """``time_interleaved`` over ``n`` fake calls that log themselves, read by a fake reader that logs which call
    it read: (the log of every call, the reads, the readings per call)."""
    log: list[tuple[str, int]] = []
    calls = [lambda i=i: log.append(("call", i)) for i in range(n)]

    def read(fn):
        fn()
        log.append(("read", len(log)))
        return {"wall": float(len(log)), "thread": 1.0}

    samples = time_interleaved(calls, warmup=warmup, repeats=repeats, read=read, seed=seed)
    return log, samples


def test_every_call_is_warmed_then_read_once_per_sweep_in_a_fresh_order():
    log, samples = _sweeps(6, warmup=2, repeats=5, seed=3)
    called = [i for kind, i in log if kind == "call"]
    assert called[:12] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # warm-up first, every call
    sweeps = [called[12 + 6 * s:12 + 6 * (s + 1)] for s in range(5)]
    assert all(sorted(sweep) == list(range(6)) for sweep in sweeps)  # each sweep reads every call once
    assert len({tuple(sweep) for sweep in sweeps}) > 1  # in orders that differ
    assert len(samples) == 6 and all(len(s["wall"]) == len(s["thread"]) == 5 for s in samples)
    # a call's readings are its own: the fake wall clock is the log's length when the call was read
    reads_at = [at for kind, at in log if kind == "read"]
    by_call: dict[int, list[float]] = {}
    for i, at in zip(called[12:], reads_at):
        by_call.setdefault(i, []).append(float(at + 1))
    assert [s["wall"] for s in samples] == [by_call[i] for i in range(6)]


def test_the_order_of_the_sweeps_is_seeded():
    def order(seed):
        log, _ = _sweeps(8, warmup=0, repeats=4, seed=seed)
        return [i for kind, i in log if kind == "call"]

    assert order(1) == order(1)
    assert order(1) != order(2)


def test_one_call_interleaved_is_warmup_then_repeats():
    log, samples = _sweeps(1, warmup=3, repeats=4, seed=0)
    assert [kind for kind, _ in log] == ["call"] * 3 + ["call", "read"] * 4
    assert len(samples[0]["wall"]) == 4


def _tiny(width: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU()).eval()


def test_the_batch_onnxruntime_timing_gives_one_timing_per_model_with_the_statistic():
    shapes = [(1, 3, 8, 8), (1, 3, 16, 16)]
    models = [export_onnx(_tiny(4), shapes[0]), export_onnx(_tiny(8), shapes[1])]
    timings = time_onnxruntime_many(models, shapes, warmup=1, repeats=3, threads=1, statistic="p25", clock="auto")
    assert len(timings) == 2
    for timing in timings:
        assert timing.runtime == "onnxruntime" and timing.statistic == "p25" and timing.clock == "thread"
        assert timing.repeats == 3 and set(timing.samples) == {"wall", "thread", "process"}
        assert timing.ms == timing.of("p25") > 0
    with pytest.raises(ValueError, match="2 networks but 1 input shapes"):
        time_onnxruntime_many(models, shapes[:1], **FASTEST)


def test_the_batch_torch_timing_gives_one_timing_per_model():
    timings = time_torch_many([_tiny(4), _tiny(8)], [(1, 3, 8, 8), (1, 3, 8, 8)], warmup=1, repeats=2, threads=1,
                              statistic="mean")
    assert [t.runtime for t in timings] == ["torch", "torch"]
    assert all(t.repeats == 2 and t.ms == pytest.approx(t.mean_ms) for t in timings)


def _lut(tmp_path, name: str = "t.json", **kw) -> LookupTableEstimator:
    return LookupTableEstimator(LUTOptions(table=str(tmp_path / name), **{**FASTEST, **kw}),
                                LatencyEnv(num_classes=4))


def test_calls_are_part_of_the_table_key(tmp_path, caplog):
    blocked = _lut(tmp_path, calls="blocked")
    blocked.table.measure([Block("conv", ((1, 3, 4, 4),), lambda: nn.Conv2d(3, 3, 1))], lambda block: 0.5)
    assert _lut(tmp_path, calls="blocked").table.entries == {"conv@1x3x4x4": 0.5}
    with caplog.at_level(logging.WARNING):
        interleaved = _lut(tmp_path, calls="interleaved")
    assert not interleaved.table.entries and list(tmp_path.glob("t.json.bad-*"))
    assert "latency table measured with calls 'blocked' (now 'interleaved')" in caplog.text
    assert interleaved.table.key.calls == "interleaved" and "interleaved calls" in interleaved.describe()


def test_a_table_written_before_calls_were_keyed_was_timed_blocked(tmp_path, caplog):
    key = {k: v for k, v in _lut(tmp_path).table.key.as_dict().items() if k != "calls"}  # the old format
    (tmp_path / "t.json").write_text(json.dumps({"format": "gasnas-latency-table/1", "key": key,
                                                 "entries": {"conv@1x3x4x4": 0.5}, "calibrations": {}}))
    assert _lut(tmp_path, calls="blocked").table.entries == {"conv@1x3x4x4": 0.5}
    with caplog.at_level(logging.WARNING):
        assert not _lut(tmp_path, calls="interleaved").table.entries
    assert "calls 'blocked' (now 'interleaved')" in caplog.text


def test_an_interleaved_table_holds_the_blocks_of_a_blocked_one_in_groups(tmp_path, space, monkeypatch):
    blocked = _lut(tmp_path, "blocked.json", calls="blocked", threads=1)
    blocked.prepare(space, SHAPE)
    interleaved = _lut(tmp_path, "interleaved.json", calls="interleaved", threads=1, together=5)
    groups, saved = [], []
    real_many, real_save = interleaved.time_blocks, interleaved.table.save
    monkeypatch.setattr(interleaved, "time_blocks", lambda bs: groups.append(len(bs)) or real_many(bs))
    monkeypatch.setattr(interleaved.table, "save", lambda: saved.append(len(interleaved.table.entries)) or real_save())
    interleaved.prepare(space, SHAPE)
    assert set(interleaved.table.entries) == set(blocked.table.entries)
    assert all(ms > 0 for ms in interleaved.table.entries.values())
    n = len(blocked.table.entries)
    assert sum(groups) == n and max(groups) <= 5 and max(groups) - min(groups) <= 1  # equal groups of <= together...
    assert saved == [sum(groups[:g + 1]) for g in range(len(groups))]  # ...each saved as it is measured
    stored = json.loads((tmp_path / "interleaved.json").read_text())
    assert stored["key"]["calls"] == "interleaved" and set(stored["entries"]) == set(blocked.table.entries)


def test_a_group_that_cannot_be_timed_names_the_block(tmp_path):
    class Bad(nn.Module):
        def forward(self, x):
            return torch.linalg.inv(x)  # no ONNX export for it

    good = Block("conv", ((1, 3, 4, 4),), lambda: nn.Conv2d(3, 3, 1))
    with pytest.raises(LatencyError, match="cannot time block bad@1x3x4x4"):
        _lut(tmp_path, threads=1).time_blocks([good, Block("bad", ((1, 3, 4, 4),), Bad)])


def _fake_runtime(monkeypatch, groups: list[int]) -> None:
    """Whole networks 'take' their parameter count / 1000 ms (the ONNX bytes carry it), timed alone or together."""
    monkeypatch.setattr(whole_module, "export_onnx", lambda network, *a, **k: str(
        sum(p.numel() for p in network.parameters())).encode())

    def time_onnxruntime_many(onnx, shapes, *, providers=None, seed=0, **how):
        groups.append(len(onnx))
        return [summarize([int(m) / 1000], clock=how["clock"], statistic=how["statistic"], warmup=0,
                          runtime="onnxruntime", device="cpu", threads=1) for m in onnx]

    monkeypatch.setattr(whole_module, "time_onnxruntime_many", time_onnxruntime_many)


def test_estimate_many_gives_one_latency_per_sample_in_order(space, monkeypatch):
    groups: list[int] = []
    _fake_runtime(monkeypatch, groups)
    samples = [space.random_sample(random.Random(i)) for i in range(7)]
    env = LatencyEnv(num_classes=4)
    interleaved = OnnxRuntimeEstimator(WholeNetworkOptions(calls="interleaved", threads=1, together=3, **FASTEST),
                                       env)
    advanced = []
    together = interleaved.estimate_many(space, samples, SHAPE, advance=lambda: advanced.append(1))
    assert groups == [2, 3, 2] and len(advanced) == 7  # 7 networks, at most 3 together: equal groups
    groups.clear()
    blocked = OnnxRuntimeEstimator(WholeNetworkOptions(calls="blocked", threads=1, **FASTEST), env)
    alone = [blocked.estimate(space, s, SHAPE) for s in samples]
    assert groups == [1] * 7
    assert together == alone == blocked.estimate_many(space, samples, SHAPE)
    assert len(set(alone)) > 1  # the samples differ, so the order is checked


def test_an_estimator_that_does_not_time_estimates_many_one_by_one(space):
    flops = FlopsEstimator(env=LatencyEnv(num_classes=4))
    samples = [space.random_sample(random.Random(i)) for i in range(4)]
    assert flops.estimate_many(space, samples, SHAPE) == [flops.estimate(space, s, SHAPE) for s in samples]


def test_the_calls_option_is_checked():
    with pytest.raises(ConfigError, match="calls"):
        parse_options(LUTOptions, {"calls": "shuffled"})
    assert parse_options(WholeNetworkOptions, {"calls": "blocked"}).calls == "blocked"
    assert LUTOptions().calls == WholeNetworkOptions().calls == DEFAULT_CALLS == "interleaved"


class _TogetherMeasure(LatencyEstimator):
    """Measures a set of samples at once (as an interleaved whole-network estimator): records each set's order."""

    def __init__(self) -> None:
        super().__init__()
        self.sets: list[list[int]] = []

    def estimate(self, space, sample, input_shape) -> float:
        raise AssertionError("a measurement round measures its samples together")

    def estimate_many(self, space, samples, input_shape, advance=None) -> list[float]:
        self.sets.append([s["id"] for s in samples])
        for _ in samples:
            advance()
        return [float(s["id"]) for s in samples]


def test_a_measurement_round_measures_its_samples_together_in_a_shuffled_order():
    from gasnas_plugins.latency.check import measure_round

    measure = _TogetherMeasure()
    samples = [{"id": i} for i in range(10)]
    advanced: list[int] = []

    @contextlib.contextmanager
    def progress(total, text):
        yield type("Task", (), {"advance": lambda self: advanced.append(total)})()

    rng = random.Random(0)
    first = measure_round(measure, None, samples, SHAPE, rng, progress)
    second = measure_round(measure, None, samples, SHAPE, rng, progress)
    assert first == second == [float(i) for i in range(10)]  # in the samples' order
    assert len(measure.sets) == 2 and measure.sets[0] != measure.sets[1] != list(range(10))
    assert all(sorted(s) == list(range(10)) for s in measure.sets)
    assert advanced == [10] * 20  # progress per network


@pytest.mark.parametrize("n,together,sizes", [(80, 80, [80]), (81, 80, [40, 41]), (7, 3, [2, 3, 2]), (2, 5, [2]),
                                              (0, 4, [])])
def test_sets_split_into_equal_groups_of_at_most_together(n, together, sizes):
    groups = groups_of(list(range(n)), together)
    assert [len(g) for g in groups] == sizes and [i for g in groups for i in g] == list(range(n))
