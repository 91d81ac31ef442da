"""examples/custom_strategy: a third-party strategy package, installed through its entry point."""

from __future__ import annotations

import pytest

from gasnas import hookimpl
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import PluginError
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


def _median_flops(gas_config, pm) -> float:
    """The median GMACs of random architectures of the test space: a limit that some samples fail and some pass,
    the same on every machine (a timed table's would depend on how loaded the machine is)."""
    import random
    import statistics

    from gasnas.api.latency import LatencyEnv
    from gasnas_plugins.latency.flops import FlopsEstimator

    cfg = load_config(gas_config)
    dataset = pm.registry("datasets").get(cfg.dataset.name).build(cfg.dataset.params)
    space = pm.registry("search spaces").get(cfg.space.name).build(cfg.space.params)
    flops = FlopsEstimator(env=LatencyEnv(num_classes=dataset.num_classes))
    rng = random.Random(0)
    costs = [flops.estimate(space, space.random_sample(rng), (1, 3, *dataset.input_size)) for _ in range(21)]
    assert len(set(costs)) > 1, "the test space's architectures all cost the same"
    return statistics.median(costs)


def test_filters_by_latency_ranks_by_score_and_resumes(gas_config, register, pm):
    require_installed("random-search")
    limit = _median_flops(gas_config, pm)
    overrides = ["strategy={name: random-search, params: {trials_per_epoch: 2, train_steps: 2, val_batches: 1}}",
                 "latency={name: flops}", f"latency.target={limit!r}"]
    engine = Engine(load_config(gas_config, overrides), reporter=NullReporter())
    full = engine.run()
    scores = [a.metadata["val_miou"] for a in full.architectures]
    assert scores == sorted(scores, reverse=True) and full.metrics["trials"] == 6
    assert all(a.metadata["estimated_latency"] <= limit for a in full.architectures)

    register(InterruptAfterFirstEpoch(), name="interrupt")
    interrupted = Engine(load_config(gas_config, [*overrides, "name=interrupted"]), reporter=NullReporter())
    with pytest.raises(PluginError, match=r"plugin 'interrupt' \(.*\) crashed during the search in .*: Interrupt"
                                          r".*its last checkpoint is kept") as crash:
        interrupted.run()
    assert isinstance(crash.value.__cause__, Interrupt)
    pm.remove("interrupt")
    resumed = Engine.resume(interrupted.run_dir.path, reporter=NullReporter()).run()
    assert [a.id for a in resumed.architectures] == [a.id for a in full.architectures]
    assert [a.metadata["val_miou"] for a in resumed.architectures] == scores
