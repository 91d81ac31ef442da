"""``gasnas train SEARCH_RUN --top-k K``: the K best architectures of a search, each trained in a run directory of
its own through the config's executor (serial here; on Ray in tests/executors/test_ray.py)."""

from __future__ import annotations

import json

from top_k_fixtures import results, search_run, train_config


def test_top_k_trains_each_architecture_like_a_single_train(cli, tmp_path):
    run, config = search_run(tmp_path), train_config(tmp_path)
    result = cli("train", str(run), "--top-k", "2", "-c", str(config), "--name", "topk")
    assert result.exit_code == 0, result.output
    assert "trained the top 2" in result.output
    tops = sorted((run / "architectures").glob("top*.yaml"))
    summaries = [json.loads((tmp_path / "runs" / f"topk-top{i}" / "summary.json").read_text()) for i in (1, 2)]
    assert not (tmp_path / "runs" / "topk-top3").exists()
    single = cli("train", str(tops[1]), "-c", str(config), "--name", "alone")  # the second best, on its own
    assert single.exit_code == 0, single.output
    alone = json.loads((tmp_path / "runs" / "alone" / "summary.json").read_text())
    assert results(summaries[1]) == results(alone) and results(summaries[0]) != results(alone)


def test_top_k_mistakes_are_explained(cli, tmp_path):
    run, config = search_run(tmp_path, count=2), train_config(tmp_path)
    too_many = cli("train", str(run), "--top-k", "3", "-c", str(config))
    assert too_many.exit_code == 2 and "kept 2 architectures; ask for at most 2" in too_many.output
    not_a_run = cli("train", str(tmp_path), "--top-k", "1", "-c", str(config))
    assert not_a_run.exit_code == 2 and "--top-k takes the run directory of a search" in not_a_run.output
    resumed = cli("train", "--resume", str(tmp_path), "--top-k", "1")
    assert resumed.exit_code == 2 and "--top-k starts K trainings" in resumed.output
    bad = cli("train", str(run), "--top-k", "1", "-c", str(train_config(tmp_path, executor={"name": "rey"})))
    assert bad.exit_code == 2 and "executor.name: unknown executor 'rey'" in bad.output
