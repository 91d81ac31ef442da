from __future__ import annotations

import json
import logging
import random

import pytest
import torch
from torch import nn

from gasnas.api.latency import Calibration, ExpectedLatency, LatencyEnv, total_cost
from gasnas.api.space import Block, CostTerm
from gasnas.errors import IncompatibleComponentsError, LatencyError
from gasnas_plugins.latency import LUTOptions, WholeNetworkOptions
from gasnas_plugins.latency.lut import LookupTableEstimator, calibration_key
from gasnas_plugins.latency.whole import OnnxRuntimeEstimator, TorchEstimator

SHAPE = (1, 3, 32, 64)
FAST = dict(warmup=1, repeats=3)


def _lut(tmp_path, **kw) -> LookupTableEstimator:
    return LookupTableEstimator(LUTOptions(table=str(tmp_path / "t.json"), **{**FAST, **kw}),
                                LatencyEnv(num_classes=4))


def _fake_blocks(monkeypatch, lut: LookupTableEstimator, cost) -> None:
    """Blocks 'take' ``cost(block)`` ms, timed alone or together."""
    monkeypatch.setattr(lut, "time_block", cost)
    monkeypatch.setattr(lut, "time_blocks", lambda blocks: [cost(b) for b in blocks])


@pytest.mark.parametrize("calls", ["blocked", "interleaved"])
def test_cache_miss_measures_once_then_hits(tmp_path, space, monkeypatch, calls):
    lut = _lut(tmp_path, calls=calls)
    timed = []
    if calls == "blocked":
        real = lut.time_block
        monkeypatch.setattr(lut, "time_block", lambda b: timed.append(b.signature) or real(b))
    else:
        real_many = lut.time_blocks
        monkeypatch.setattr(lut, "time_blocks", lambda bs: timed.extend(b.signature for b in bs) or real_many(bs))
    lut.prepare(space, SHAPE)
    assert len(timed) == len(set(timed)) == len(lut.table.entries) > 10
    again = _lut(tmp_path, calls=calls)  # a new estimator reads the cached file
    _fake_blocks(monkeypatch, again, lambda b: pytest.fail(f"re-measured {b.signature}"))
    again.prepare(space, SHAPE)
    sample = space.random_sample(random.Random(0))
    assert again.estimate(space, sample, SHAPE) == pytest.approx(lut.estimate(space, sample, SHAPE))
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["key"]["threads"] == lut.threads and data["key"]["dtype"] == "fp32"


def test_corrupt_cache_is_rebuilt_with_a_warning(tmp_path, space, caplog):
    (tmp_path / "t.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        lut = _lut(tmp_path)
    assert "corrupt latency table" in caplog.text and "measuring anew" in caplog.text
    lut.prepare(space, SHAPE)
    assert json.loads((tmp_path / "t.json").read_text())["entries"]
    assert list(tmp_path.glob("t.json.bad-*"))


def test_table_of_another_device_or_thread_count_is_not_reused(tmp_path, space, caplog):
    _lut(tmp_path, threads=1).prepare(space, SHAPE)
    with caplog.at_level(logging.WARNING):
        lut = _lut(tmp_path, threads=2)
    assert "latency table measured with" in caplog.text and not lut.table.entries


def test_a_block_that_cannot_be_timed_is_a_clear_error(tmp_path):
    class Bad(nn.Module):
        def forward(self, x):
            return torch.linalg.inv(x)  # no ONNX export for it

    lut = _lut(tmp_path)
    with pytest.raises(LatencyError, match="cannot time block bad@1x3x4x4"):
        lut.time_block(Block("bad", ((1, 3, 4, 4),), Bad))
    with pytest.raises(LatencyError, match="cannot build block broken"):
        lut.time_block(Block("broken", ((1, 3, 4, 4),), lambda: 1 / 0))


def test_expected_latency_is_linear_and_differentiable(space, tmp_path, monkeypatch):
    lut = _lut(tmp_path)
    # deterministic block costs (size of the block's weights), so the ranking below tests how expected()
    # maps choices to blocks, not the timing noise of a shared machine (3 repeats of a tiny block can rank a
    # skip above a conv)
    _fake_blocks(monkeypatch, lut, lambda b: 0.01 + 1e-4 * sum(p.numel() for p in b.factory().parameters()))
    expected = lut.expected(space, SHAPE)
    keys = expected.keys
    probs = {k: torch.full((8,), 1 / 8, requires_grad=True) for k in keys}
    value = expected(probs)
    value.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in probs.values())
    # linear: the uniform mixture is the mean of the seven real one-hot choices (zero, index 0, is
    # excluded and the rest renormalised); exact, no timing noise
    def one_hot(i):
        return {k: torch.nn.functional.one_hot(torch.tensor(i), 8).float() for k in keys}

    corners = [float(expected(one_hot(i))) for i in range(8)]
    assert float(value.detach()) == pytest.approx(sum(corners[1:]) / 7, rel=1e-5)
    # and it ranks a skip-only network below a conv-only one (skip blocks carry no weights)
    assert corners[1] < corners[3]  # skip_connect < conv_3x3


def test_exclude_zero_renormalises_over_real_operations():
    blocks = (Block("a", ((1,),), nn.Identity),)
    terms = [CostTerm("g", ((), blocks), key="k", zero=0)]
    cost = {"a@1": 2.0}
    kept = ExpectedLatency(terms, lambda b: cost[b.signature], exclude_zero=True)
    plain = ExpectedLatency(terms, lambda b: cost[b.signature], exclude_zero=False)
    probs = {"k": torch.tensor([0.9, 0.1])}
    assert float(plain(probs)) == pytest.approx(0.2)
    assert float(kept(probs)) == pytest.approx(2.0)


def test_calibration_is_applied_per_group(space, tmp_path):
    lut = _lut(tmp_path)
    sample = space.random_sample(random.Random(1))
    raw = lut.estimate(space, sample, SHAPE)
    groups = lut.group_costs(space, sample, SHAPE)
    assert sum(groups.values()) == pytest.approx(raw)
    lut.table.calibrations[calibration_key(space, SHAPE, 4)] = {"intercept": 0.5, "scales": {"*": 2.0}}
    assert lut.estimate(space, sample, SHAPE) == pytest.approx(0.5 + 2 * raw)
    assert _lut(tmp_path, calibrated=False).estimate(space, sample, SHAPE) == pytest.approx(raw, rel=0.5)
    terms = space.cost_terms(SHAPE, sample, num_classes=4)
    assert total_cost(terms, lut.table.cost, Calibration(1.0, {"head": 0.0})) < raw + 1.0


@pytest.mark.parametrize("cls", [OnnxRuntimeEstimator, TorchEstimator])
def test_whole_network_estimators_time_the_built_network(cls, space):
    est = cls(WholeNetworkOptions(**FAST), LatencyEnv(num_classes=4))
    ms = est.estimate(space, space.random_sample(random.Random(0)), SHAPE)
    assert ms > 0 and est.last.runtime == cls.runtime and est.last.repeats == 3
    assert "thread" in est.describe()
    assert est.expected(space, SHAPE) is None


def test_space_without_blocks_is_refused_by_the_table(tmp_path):
    from gasnas.api.space import SearchSpace

    class Opaque(SearchSpace):
        def choices(self):
            return {}

        def build(self, sample, num_classes):
            return nn.Conv2d(3, num_classes, 1)

    with pytest.raises(IncompatibleComponentsError, match="does not describe its networks as blocks"):
        _lut(tmp_path).prepare(Opaque(), SHAPE)


def test_a_gpu_table_is_keyed_by_the_provider_that_loads(tmp_path, monkeypatch):
    from gasnas.runtime.providers import ProviderChoice
    from gasnas_plugins.latency import lut as lut_module

    monkeypatch.setattr(lut_module, "device_name", lambda device: "Some GPU")
    asked = []

    def choose(device, *, tensorrt=True):
        asked.append((device, tensorrt))
        first = "TensorrtExecutionProvider" if tensorrt else "CUDAExecutionProvider"
        return ProviderChoice((first, "CPUExecutionProvider"))

    monkeypatch.setattr(lut_module, "choose_providers", choose)

    def table(tensorrt):
        estimator = LookupTableEstimator(LUTOptions(tensorrt=tensorrt), LatencyEnv(device="cuda", num_classes=4,
                                                                                  cache_dir=tmp_path))
        return estimator.table

    trt, cuda = table(True), table(False)
    assert asked == [("cuda", True), ("cuda", False)]
    assert trt.key.runtime.endswith("TensorrtExecutionProvider")
    assert cuda.key.runtime.endswith("CUDAExecutionProvider")
    assert trt.path != cuda.path and "tensorrt" in trt.path.name and "-cuda-" in cuda.path.name
    # on the CPU nothing changes: one provider, the table named as before
    cpu = LookupTableEstimator(LUTOptions(), LatencyEnv(num_classes=4, cache_dir=tmp_path)).table
    assert "ExecutionProvider" not in cpu.key.runtime
    assert cpu.path.name.endswith(f"-onnxruntime-fp32-t{cpu.key.threads}.json")


def _fake_whole_network(monkeypatch, lut: LookupTableEstimator, space, distort) -> None:
    """Whole networks 'measure' as ``distort(table sum)``: calibration is then checked without timing noise."""
    from gasnas_plugins.latency import whole

    def estimate(self, space_, sample, input_shape):
        return distort(sum(lut.group_costs(space_, sample, input_shape).values()))

    def estimate_many(self, space_, samples, input_shape, advance=None):
        return [estimate(self, space_, sample, input_shape) for sample in samples]

    monkeypatch.setattr(whole.OnnxRuntimeEstimator, "estimate", estimate)
    monkeypatch.setattr(whole.OnnxRuntimeEstimator, "estimate_many", estimate_many)


def test_calibrate_fits_and_keeps_a_calibration_once(tmp_path, space, monkeypatch):
    lut = _lut(tmp_path, calibrate=8)
    lut.table.measure([b for t in space.cost_terms(SHAPE, None, num_classes=4) for c in t.candidates for b in c],
                      lambda block: 0.01 + 0.001 * len(block.key))  # a table without timing
    _fake_whole_network(monkeypatch, lut, space, lambda ms: 0.2 + 0.8 * ms)  # the runtime fuses: 20% cheaper
    lut.prepare(space, SHAPE)
    stored = lut.table.calibrations[calibration_key(space, SHAPE, 4)]
    assert stored["automatic"] and stored["fitted_on"] == 8 and stored["loo_mape"] < 1
    sample = space.random_sample(random.Random(5))
    raw = sum(lut.group_costs(space, sample, SHAPE).values())
    assert lut.estimate(space, sample, SHAPE) == pytest.approx(0.2 + 0.8 * raw, rel=0.02)
    monkeypatch.setattr(LookupTableEstimator, "calibrate", lambda *a: pytest.fail("calibrated twice"))
    _lut(tmp_path, calibrate=8).prepare(space, SHAPE)  # the stored one is used


def test_calibration_from_noisy_timings_is_not_kept(tmp_path, space, monkeypatch, caplog):
    lut = _lut(tmp_path, calibrate=8)
    lut.table.measure([b for t in space.cost_terms(SHAPE, None, num_classes=4) for c in t.candidates for b in c],
                      lambda block: 0.01 + 0.001 * len(block.key))
    noise = iter([1.0, 3.0, 0.5, 2.5, 0.2, 4.0, 1.5, 0.1])  # a busy machine: unrelated to the blocks
    _fake_whole_network(monkeypatch, lut, space, lambda ms: next(noise))
    with caplog.at_level(logging.WARNING):
        lut.prepare(space, SHAPE)
    assert calibration_key(space, SHAPE, 4) not in lut.table.calibrations
    assert "too noisy" in caplog.text


def test_calibrate_option_is_checked():
    from gasnas.errors import ConfigError
    from gasnas.options import parse_options

    with pytest.raises(ConfigError, match="calibrate must be 0"):
        parse_options(LUTOptions, {"calibrate": 2})


def test_a_table_of_another_statistic_or_clock_is_measured_anew_with_a_clear_line(tmp_path, caplog):
    """Tables written before the statistic was keyed hold wall-clock medians: reused as such, re-measured else."""
    lut = _lut(tmp_path, statistic="median", clock="wall")
    key = {k: v for k, v in lut.table.key.as_dict().items() if k not in ("statistic", "clock")}  # the old format
    (tmp_path / "t.json").write_text(json.dumps({"format": "gasnas-latency-table/1", "key": key,
                                                 "entries": {"conv@1x3x4x4": 0.5}, "calibrations": {}}))
    assert _lut(tmp_path, statistic="median", clock="wall").table.entries == {"conv@1x3x4x4": 0.5}
    with caplog.at_level(logging.WARNING):
        robust = _lut(tmp_path, statistic="min", threads=1)  # clock auto: the thread's CPU time on one thread
    assert not robust.table.entries and list(tmp_path.glob("t.json.bad-*"))
    assert "latency table measured with statistic 'median' (now 'min'), clock 'wall' (now 'thread')" in caplog.text
    assert robust.table.key.statistic == "min" and robust.table.key.clock == "thread"
    assert "min of thread CPU time" in robust.describe()


@pytest.mark.parametrize("calls", ["blocked", "interleaved"])
def test_the_table_and_the_whole_networks_it_is_calibrated_on_are_timed_alike(tmp_path, space, monkeypatch, calls):
    """Same statistic, clock, threads, repeats, pinning and calls for blocks and networks (fake timings: no
    clock)."""
    from gasnas.api import summarize
    from gasnas_plugins.latency import lut as lut_module
    from gasnas_plugins.latency import whole as whole_module
    from gasnas_plugins.latency.check import unlike_conditions

    seen = {"blocks": [], "networks": []}

    def fake(kind):
        def time_onnxruntime_many(onnx, shapes, *, providers=None, seed=0, **how):
            assert len(onnx) == len(shapes)
            together[kind].append(len(onnx))
            seen[kind].extend([how] * len(onnx))
            return [summarize({"wall": [2.0, 1.0], "thread": [1.0, 0.9]}, clock=how["clock"],
                              statistic=how["statistic"], warmup=how["warmup"], runtime="onnxruntime", device="cpu",
                              threads=how["threads"]) for _ in onnx]
        return time_onnxruntime_many

    together = {"blocks": [], "networks": []}
    monkeypatch.setattr(lut_module, "time_onnxruntime_many", fake("blocks"))
    monkeypatch.setattr(whole_module, "time_onnxruntime_many", fake("networks"))
    for module in (lut_module, whole_module):
        monkeypatch.setattr(module, "export_onnx", lambda *a, **k: b"onnx")
    lut = _lut(tmp_path, statistic="p25", clock="auto", threads=1, core=0, calls=calls)
    lut.prepare(space, SHAPE)
    assert lut.estimate(space, space.random_sample(random.Random(0)), SHAPE) > 0
    lut.calibrate(space, SHAPE, 3)
    assert seen["blocks"] and len(seen["networks"]) == 3
    # blocked: one network (block) per timing; interleaved: all the table lacked, and the 3 networks, together
    assert together["networks"] == ([1, 1, 1] if calls == "blocked" else [3])
    assert set(together["blocks"]) == ({1} if calls == "blocked" else {len(lut.table.entries)})
    expected = {"device": "cpu", "dtype": "fp32", "warmup": 1, "repeats": 3, "threads": 1, "statistic": "p25",
                "clock": "thread", "core": 0}
    assert all(how == expected for how in seen["blocks"] + seen["networks"])
    assert lut.table.entries and all(v == pytest.approx(0.925) for v in lut.table.entries.values())  # thread p25
    same = OnnxRuntimeEstimator(WholeNetworkOptions(statistic="p25", threads=1, core=0, calls=calls, **FAST),
                                LatencyEnv())
    assert unlike_conditions("lut", lut, same) is None
    other = OnnxRuntimeEstimator(WholeNetworkOptions(statistic="median", threads=1, **FAST), LatencyEnv())
    note = unlike_conditions("lut", lut, other)
    assert note.startswith("lut is timed otherwise than the ground truth (statistic 'p25' against 'median', "
                           "core 0 against None" + (", calls 'blocked' against 'interleaved')" if calls == "blocked"
                                                    else ")"))


def test_timing_options_are_checked():
    from gasnas.errors import ConfigError
    from gasnas.options import parse_options

    with pytest.raises(ConfigError, match="clock 'thread' times one thread only, not threads=2"):
        parse_options(LUTOptions, {"clock": "thread", "threads": 2})
    with pytest.raises(ConfigError, match="statistic"):
        parse_options(WholeNetworkOptions, {"statistic": "fastest"})
    assert LUTOptions().statistic == WholeNetworkOptions().statistic and LUTOptions().clock == "auto"
