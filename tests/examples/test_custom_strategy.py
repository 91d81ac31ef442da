"""examples/custom_strategy: a third-party strategy package, installed through its entry point."""

from __future__ import annotations

import pytest

from gasnas import hookimpl
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.reporting import NullReporter

from examples_support import require_installed


class Interrupt(Exception):
    pass


class InterruptAfterFirstEpoch:
    """Stops the search like a kill would, after epoch 0's metrics and before its successor's checkpoint."""

    @hookimpl
    def gasnas_epoch_ended(self, run, epoch, metrics):
        if epoch == 1:
            raise Interrupt


def test_registered_through_its_entry_point(pm):
    require_installed("random-search")
    comp = pm.registry("strategies").get("random-search")
    assert comp.traits["requires"] == {"sampling"} and pm.plugins["random-search"].source == "entry point"


def test_filters_by_latency_ranks_by_score_and_resumes(gas_config, register, pm):
    require_installed("random-search")
    overrides = ["strategy={name: random-search, params: {trials_per_epoch: 2, train_steps: 2, val_batches: 1}}",
                 "latency.measure=null", "latency.target_ms=0.3"]
    engine = Engine(load_config(gas_config, overrides), reporter=NullReporter())
    full = engine.run()
    scores = [a.metadata["val_miou"] for a in full.architectures]
    assert scores == sorted(scores, reverse=True) and full.metrics["trials"] == 6
    assert all(a.metadata["estimated_latency"] <= 0.3 for a in full.architectures)

    register(InterruptAfterFirstEpoch(), name="interrupt")
    interrupted = Engine(load_config(gas_config, [*overrides, "name=interrupted"]), reporter=NullReporter())
    with pytest.raises(Interrupt):
        interrupted.run()
    pm.remove("interrupt")
    resumed = Engine.resume(interrupted.run_dir.path, reporter=NullReporter()).run()
    assert [a.id for a in resumed.architectures] == [a.id for a in full.architectures]
    assert [a.metadata["val_miou"] for a in resumed.architectures] == scores
