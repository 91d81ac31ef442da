"""Searches that cannot learn stop with a clear error; results that learned nothing say so in the final table,
``summary.json`` and the metrics."""

from __future__ import annotations

import json
import re

import pytest
import torch

from gasnas import hookimpl
from gasnas.api.evaluator import BACKGROUND_MARGIN, background_score
from gasnas.api.strategy import SearchStrategy
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import ConfigError, DataError
from gasnas.registry import SAMPLING
from gasnas.reporting import NullReporter

EVOLUTION = "strategy={name: evolution, params: {population: 4, sample_size: 2, generations: 1, limit_samples: 8}}"
#: two training steps: the supernet of the test search cannot leave the all-background prediction
NOTHING_LEARNED = ["budget.epochs=2", "budget.steps_per_epoch=1", "latency.measure=null"]


def _search(config, *overrides: str):
    engine = Engine(load_config(config, list(overrides)), reporter=NullReporter())
    return engine, engine.run()


@pytest.fixture
def no_latency_table(gas_config, monkeypatch):
    """The lut estimator refuses to measure: an error raised before it is raised before the long work."""
    from gasnas.plugins import get_plugin_manager

    estimator = get_plugin_manager().registry("latency estimators").get("lut").load()

    def prepare(self, space, input_shape):
        raise AssertionError("the latency table was measured before the check")

    monkeypatch.setattr(estimator, "prepare", prepare)


# -- zero training steps: an error before the long work ------------------------------------------------------------

def test_a_bilevel_search_whose_halves_cannot_fill_a_batch_stops_before_the_latency_table(gas_config,
                                                                                         no_latency_table):
    with pytest.raises(DataError) as caught:
        _search(gas_config, "dataset.params={train: 12, val: 8}")  # halves of 6 images, batches of 8
    message = str(caught.value)
    assert "budget.batch_size is 8" in message
    assert "strategy 'differentiable' trains on 2 disjoint shares of the 12 samples" in message
    assert "the smallest holding 6" in message and "no training step would run" in message
    assert "Lower budget.batch_size to at most 6" in message


def test_a_single_level_search_needs_one_batch_of_the_whole_split(gas_config, no_latency_table):
    with pytest.raises(DataError, match=r"the train split of dataset 'rectangles' holds 6 samples"):
        _search(gas_config, "dataset.params={train: 6, val: 8}", "strategy.params.bilevel=false")


def test_evolution_whose_supernet_would_train_no_step_stops_before_the_latency_table(gas_config, no_latency_table):
    with pytest.raises(DataError, match=r"budget.batch_size is 8, but the train split of dataset 'rectangles' holds "
                                        r"7 samples.*at most 7"):
        _search(gas_config, EVOLUTION, "budget.epochs=2", "dataset.params={train: 7, val: 8}")


class Quarters(SearchStrategy):
    """A strategy that trains on a quarter of the train split but declares the default (the whole split)."""

    def search(self, ctx):
        quarter = ctx.split_indices("train", 4)[0]
        for _ in ctx.loader("train", train=True, indices=quarter):
            pass


class QuartersPlugin:
    @hookimpl
    def gasnas_register_strategies(self, registry):
        registry.add("quarters", Quarters, requires=[SAMPLING])


def test_a_training_loader_without_a_batch_is_an_error_whatever_the_strategy_declared(toy_config, register):
    register(QuartersPlugin(), name="quarters")
    with pytest.raises(DataError, match=r"budget.batch_size is 5, but this training loader draws from 4 of the 16 "
                                        r"samples of the train split of dataset 'blobs'.*no training step would run"):
        _search(toy_config, "strategy={name: quarters}", "budget.batch_size=5", "dataset.params.size=16")


# -- batches of one image ------------------------------------------------------------------------------------------

def test_a_search_with_batches_of_one_image_names_the_option(gas_config, cli):
    """The GAS head pools globally before a batch norm: one image per step cannot train it."""
    with pytest.raises(ConfigError, match=r"budget.batch_size is 1: a batch of one image reached a batch-norm layer "
                                          r"on a 1 x 1 map.*set budget.batch_size to 2 or more"):
        _search(gas_config, "budget.batch_size=1", "budget.epochs=2", "latency.measure=null")
    result = cli("search", str(gas_config), "--set", "budget.batch_size=1", "--set", "latency.measure=null")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "budget.batch_size is 1" in result.output


# -- results that learned nothing ------------------------------------------------------------------------------------

def test_background_score_is_the_score_of_predicting_the_most_frequent_class(rectangles, pm):
    from toy_scenes import Rectangles, RectanglesOptions

    class TwoClassesInVal(Rectangles):  # background 70%, red 30%, no green or blue pixel
        def class_counts(self, split="train"):
            return torch.tensor([700_000, 300_000, 0, 0])

    dataset = TwoClassesInVal(RectanglesOptions())
    # test-miou averages over every class: the majority's IoU (its share of the pixels), zero for the others
    assert background_score(pm.registry("evaluators").get("test-miou").build(None), dataset) == \
        pytest.approx(0.7 / 4, abs=1e-4)
    # the segmentation evaluator leaves out the classes neither present nor predicted
    assert background_score(pm.registry("evaluators").get("segmentation").build(None), dataset) == \
        pytest.approx(0.7 / 2, abs=1e-4)
    rare = TwoClassesInVal(RectanglesOptions())
    rare.class_counts = lambda split="train": torch.tensor([10**9, 1, 0, 0])  # a class of one pixel still counts
    assert background_score(pm.registry("evaluators").get("segmentation").build(None), rare) == \
        pytest.approx(1 / 2, abs=1e-4)


def test_a_search_that_learned_nothing_says_so_in_its_result_and_summary(gas_config):
    engine, result = _search(gas_config, *NOTHING_LEARNED)
    baseline = result.metrics["background_val_miou"]
    assert result.metrics["val_miou"] < baseline + BACKGROUND_MARGIN and result.metrics["above_background"] == 0.0
    assert len(result.warnings) == 2  # the strategy's own (undecided) and the engine's (all background)
    assert "ended near uniform" in result.warnings[0]
    assert f"is not clearly above the all-background score ({baseline:.4g}" in result.warnings[1]
    summary = json.loads((engine.run_dir.path / "summary.json").read_text())
    assert summary["warnings"] == result.warnings
    assert summary["metrics"]["above_background"] == 0.0 and summary["metrics"]["decided"] == 0.0


def test_the_final_table_carries_the_warnings(gas_config, cli, tmp_path):
    result = cli("search", str(gas_config), *(f"--set={o}" for o in NOTHING_LEARNED), "--name", "nothing")
    assert result.exit_code == 0, result.output
    text = " ".join(re.sub(r"[│┃|]", " ", result.output).split())
    assert "search finished with 2 warning(s)" in text
    assert text.count(" warning ") == 2  # one row each, inside the table
    assert "above background 0" in text and "background val miou" in text
    summary = json.loads((tmp_path / "runs/nothing/summary.json").read_text())
    assert all(" ".join(w.split()[:4]) in text for w in summary["warnings"])


def test_the_warning_uses_the_last_epoch_when_the_strategy_reports_no_score(gas_config, monkeypatch):
    """A strategy whose result carries no val score (NNI's one-shot): the engine reads the last epoch's."""
    from gasnas_plugins.strategies.differentiable.strategy import DifferentiableSearch

    real = DifferentiableSearch.search

    def without_score(self, ctx):
        result = real(self, ctx)
        result.metrics.pop("val_miou")
        return result

    monkeypatch.setattr(DifferentiableSearch, "search", without_score)
    engine, result = _search(gas_config, *NOTHING_LEARNED)
    assert "val_miou" not in result.metrics and result.metrics["above_background"] == 0.0
    last = engine.run_dir.read_metrics()[-1]["val_miou"]
    assert f"the final val_miou ({last:.4g}) is not clearly above" in result.warnings[-1]
