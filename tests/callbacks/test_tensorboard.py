"""The tensorboard callback: event files in the run directory, read back with TensorBoard's own reader -- every
step's values, every epoch's metrics and the cell pictures of a search, the same of ``gasnas train``, a resumed
search that goes on counting its steps, and no TensorBoard installed."""

from __future__ import annotations

import json
import sys

import pytest

from gasnas import hookimpl
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import PluginError
from gasnas.reporting import NullReporter
from gasnas_plugins.callbacks import tensorboard
from toy_models import tiny_fcn, train_yaml  # noqa: F401 - fixtures

needs_tensorboard = pytest.mark.skipif(not tensorboard.installed(), reason="needs the tensorboard extra (pip "
                                       "install 'gasnas[tensorboard]'), which the dev extra installs")


def _events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert list(run_dir.glob("events.out.tfevents.*")), f"no event file in {run_dir}"
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _per_epoch_means(values, epochs):
    n = len(values) // epochs
    assert n * epochs == len(values)
    return [sum(values[e * n:(e + 1) * n]) / n for e in range(epochs)]


@needs_tensorboard
def test_a_search_writes_every_step_every_epoch_and_the_cells(gas_config):
    counted = ["latency.measure=null", "latency.name=flops", "latency.params={}"]  # MACs: no timing, fast
    engine = Engine(load_config(gas_config, counted), reporter=NullReporter())
    engine.run()
    run = engine.run_dir.path
    events, records = _events(run), _records(run)
    steps = events.Scalars("step/ce")
    per_epoch = len(steps) // 3
    assert [s.step for s in steps] == list(range(3 * per_epoch)) and per_epoch > 0
    assert _per_epoch_means([s.value for s in steps], 3) == pytest.approx([r["ce"] for r in records], rel=1e-5)
    for key in ("ce", "entropy", "val_miou"):
        epochs = events.Scalars(f"epoch/{key}")
        assert [s.step for s in epochs] == [per_epoch - 1, 2 * per_epoch - 1, 3 * per_epoch - 1]  # each at its end
        assert [s.value for s in epochs] == pytest.approx([r[key] for r in records], rel=1e-6)
    assert sorted(events.Tags()["images"]) == ["pictures/cell0", "pictures/cell1", "pictures/cell2"]
    cell = events.Images("pictures/cell0")[-1]
    assert cell.width > 300 and cell.height > 200
    assert run not in tensorboard._logs  # closed when the search finished


@needs_tensorboard
def test_gasnas_train_writes_every_step_and_every_epoch(tiny_fcn, train_yaml, cli, tmp_path):
    result = cli("train", "tiny-fcn", "--config", train_yaml(epochs=2, steps_per_epoch=3), "--name", "tb")
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "tb"
    events, records = _events(run), _records(run)
    steps = events.Scalars("step/loss")
    assert [s.step for s in steps] == list(range(6))
    assert _per_epoch_means([s.value for s in steps], 2) == pytest.approx([r["loss"] for r in records], rel=1e-5)
    assert [s.value for s in events.Scalars("epoch/val_miou")] == pytest.approx([r["val_miou"] for r in records])
    assert [s.step for s in events.Scalars("step/lr")] == list(range(6))
    assert result.output.count("epoch 1/2:") == 1  # the trainer's line (the console plugin leaves train runs to it)
    assert run not in tensorboard._logs  # closed after the last epoch


@needs_tensorboard
def test_a_resumed_search_goes_on_counting_and_tensorboard_shows_each_step_once(toy_config, register):
    steps, ends, killed = [], [], []

    class Record:
        @hookimpl
        def gasnas_step_ended(self, run, step, metrics):
            steps.append((run.kind, step, set(metrics)))

        @hookimpl
        def gasnas_epoch_ended(self, run, epoch, metrics):
            ends.append(len(steps))

    class KillTwoStepsIntoTheSecondEpoch:  # registered last, so called first: its step is never recorded
        @hookimpl
        def gasnas_step_ended(self, run, step, metrics):
            if ends and not killed and step == ends[0] + 2:
                killed.append(step)
                raise KeyboardInterrupt

    register(Record(), name="record")
    register(KillTwoStepsIntoTheSecondEpoch(), name="kill")
    engine = Engine(load_config(toy_config), reporter=NullReporter())
    with pytest.raises(KeyboardInterrupt):
        engine.run()
    per_epoch = ends[0]
    assert per_epoch > 0 and steps == [("search", i, {"ce"}) for i in range(per_epoch + 2)]
    Engine.resume(engine.run_dir.path, reporter=NullReporter()).run()
    # the count goes on from the checkpoint (after epoch 0), redoing the two steps the kill interrupted
    assert [s for _, s, _ in steps] == [*range(per_epoch + 2), *range(per_epoch, 3 * per_epoch)]
    events = _events(engine.run_dir.path)
    assert [s.step for s in events.Scalars("step/ce")] == list(range(3 * per_epoch))  # each step once
    assert [s.step for s in events.Scalars("epoch/best")] == [per_epoch - 1, 2 * per_epoch - 1, 3 * per_epoch - 1]
    assert len(list(engine.run_dir.path.glob("events.out.tfevents.*"))) == 2


def test_without_tensorboard_a_search_writes_no_event_file(toy_config, monkeypatch):
    monkeypatch.setattr(tensorboard, "installed", lambda: False)
    engine = Engine(load_config(toy_config), reporter=NullReporter())
    engine.run()
    assert not list(engine.run_dir.path.glob("events.out.tfevents.*"))
    assert _records(engine.run_dir.path)  # metrics.jsonl, as always


@needs_tensorboard
def test_a_broken_tensorboard_is_a_clear_error(toy_config, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # installed, but its import fails
    with pytest.raises(PluginError, match=r"callbacks\.tensorboard.*pip install 'gasnas\[tensorboard\]'.*"
                                          r"GASNAS_DISABLE_PLUGINS=callbacks\.tensorboard"):
        Engine(load_config(toy_config), reporter=NullReporter()).run()
