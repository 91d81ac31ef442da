"""Distributed search (torchrun's environment, gloo on CPU, 2 processes): ranks that agree, results equal to one
process at the global batch, and a killed rank that stops the job clearly and resumes.

One scenario serves the three checks (process start-ups are the cost): a 2-rank search at 2 images per rank in
which rank 1 kills itself with SIGKILL in the first step of epoch 1 (after epoch 0's checkpoint), then a 2-rank
resume of that run, then one process at the global batch of 4, uninterrupted.

The runs compute in float64. In float32 the ranks still agree bit for bit, but a 2-rank run differs from one
process by the order of its sums (about 1e-7 relative: DDP averages two half-batch gradients, batch norm sums two
shares); Adam and AdamW divide each gradient by its own running magnitude, so on a parameter whose exact gradient
is 0 (a batch-norm bias feeding another batch norm, some architecture entries) a rounding difference of 1e-9
becomes a step of up to the learning rate. In float64 rounding is ~1e-16, far under Adam's eps, and the weights
and architecture parameters of the two runs agree to 1e-9 -- the tolerance asserted below.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

import distributed_worker as worker  # noqa: E402 - after the skips

pytestmark = pytest.mark.skipif(not dist.is_available() or sys.platform == "win32",
                                reason="needs torch.distributed with gloo")

#: per rank; the global batch is BATCH x WORLD
BATCH, WORLD = 2, 2
STEPS_PER_EPOCH = 2
#: rank 1 dies when this many steps are done: the first step of epoch 1 (epoch 0's checkpoint is written)
DIE_AT = STEPS_PER_EPOCH + 1
CONFIG = f"""\
seed: 0
threads: 1
output: {{output}}
dataset: {{{{name: rectangles, params: {{{{train: 16, val: 4}}}}}}}}
space: {{{{name: gas, params: {{{{preset: gas-tiny, cells: 2, reductions: [1], nodes: 2, channels: 4,
                           stem_channels: [4, 4, 4], head_channels: 8}}}}}}}}
communicator: {{{{name: gcn}}}}
strategy: {{{{name: differentiable, params: {{{{warmup_epochs: 1, arch_lr: 0.05, top_k: 2, val_batches: 1,
                                          beta: 0, class_weight_power: 0}}}}}}}}
evaluator: {{{{name: test-miou}}}}
budget: {{{{epochs: 3, batch_size: {{batch}}, steps_per_epoch: {STEPS_PER_EPOCH}}}}}
"""
TOL = 1e-9


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> dict:
    """The killed 2-rank run, its 2-rank resume, and one process at the global batch (see the module docstring)."""
    root = tmp_path_factory.mktemp("distributed")
    config = root / "search.yaml"
    config.write_text(CONFIG.format(output=root / "runs", batch=BATCH))
    run_dir = root / "runs" / "ddp"
    with pytest.MonkeyPatch.context() as env:  # no curves or event files: seconds per process saved
        env.setenv("GASNAS_DISABLE_PLUGINS", "callbacks.curves,callbacks.tensorboard")
        env.setenv("OMP_NUM_THREADS", "1")
        env.setenv("GASNAS_DIST_TIMEOUT", "120")  # a rank that hangs fails the test in minutes, not half an hour
        killed = worker.spawn_ranks(WORLD, root / "killed", str(config), ["name=ddp"], "float64", die_at={1: DIE_AT})
        train = [f"output={root / 'trained'}", "train.class_weight_power=0", "train.epochs=1", "threads=1"]
        resumed = worker.spawn_ranks(WORLD, root / "resumed", None, [], "float64", resume=str(run_dir),
                                     train=[*train, "name=ddp", f"train.batch_size={BATCH}"])
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            single = worker.run_search(config, ["name=single", f"budget.batch_size={BATCH * WORLD}"], "float64")
            single["trained"] = worker.run_training(run_dir / "architecture.yaml",
                                                    [*train, "name=single", f"train.batch_size={BATCH * WORLD}"],
                                                    "float64")
        finally:
            torch.set_num_threads(threads)
    load = lambda folder, rank: torch.load(root / folder / f"rank{rank}.pt")  # noqa: E731
    return {"killed_codes": killed, "resumed_codes": resumed, "run_dir": run_dir, "single": single,
            "killed": [load("killed", 0), None], "resumed": [load("resumed", r) for r in range(WORLD)]}


def test_a_killed_rank_stops_the_job_with_a_clear_message(scenario):
    assert scenario["killed_codes"] == [3, -9]  # rank 0 stopped on a GasnasError; rank 1 was SIGKILLed
    message = scenario["killed"][0]["error"]
    assert message.startswith("DistributedError: rank 0 of 2:")
    assert "lost a process (it died, or did not answer within GASNAS_DIST_TIMEOUT=120 s)" in message
    assert f"resume with torchrun --nproc_per_node 2 -m gasnas search --resume {scenario['run_dir']}" in message
    assert (scenario["run_dir"] / "checkpoint.pt").is_file()


def test_the_killed_run_resumes_under_torchrun(scenario):
    assert scenario["resumed_codes"] == [0, 0]
    records = (scenario["run_dir"] / "metrics.jsonl").read_text().splitlines()
    assert len(records) == 3  # epoch 0 kept, epochs 1-2 redone once
    assert (scenario["run_dir"] / "architecture.yaml").is_file()
    assert sorted(p.name for p in scenario["run_dir"].parent.iterdir()) == ["ddp", "single"]  # rank 0 named it
    for rank in range(WORLD):  # the resumed epochs' steps, on every rank
        assert len(scenario["resumed"][rank]["steps"]) == 2 * STEPS_PER_EPOCH


def test_architecture_parameters_are_bit_identical_on_every_rank_after_every_step(scenario):
    ranks = scenario["resumed"]
    for step, (a, b) in enumerate(zip(ranks[0]["steps"], ranks[1]["steps"])):
        assert torch.equal(a, b), f"step {step}: the ranks' architecture parameters differ"
        assert torch.equal(ranks[0]["weights"][step], ranks[1]["weights"][step]), f"step {step}: weights differ"
    assert ranks[0]["architectures"] == ranks[1]["architectures"]


def test_two_ranks_derive_what_one_process_derives_at_the_global_batch(scenario):
    single, resumed = scenario["single"], scenario["resumed"][0]
    done = STEPS_PER_EPOCH  # the resumed run starts at epoch 1
    assert len(single["steps"]) == done + len(resumed["steps"])
    moved = float((single["steps"][-1] - single["steps"][0]).abs().max())
    assert moved > 0.01  # the architecture did learn: the comparison below is not of untouched zeros
    for step, (mine, one) in enumerate(zip(resumed["steps"], single["steps"][done:]), done):
        assert torch.allclose(mine, one, rtol=0, atol=TOL), f"step {step}: architecture parameters"
    for step, (mine, one) in enumerate(zip(resumed["weights"], single["weights"][done:]), done):
        assert torch.allclose(mine, one, rtol=0, atol=TOL), f"step {step}: supernet weights"
    assert resumed["architectures"] == single["architectures"]


def test_sharded_loaders_together_give_the_one_process_batches():
    from gasnas.seeding import deterministic_loader

    data = torch.utils.data.TensorDataset(torch.arange(23))
    one = [batch[0].tolist() for batch in deterministic_loader(data, batch_size=6, seed=5, epoch=2, shuffle=True,
                                                                drop_last=True)]
    shares = [[batch[0].tolist() for batch in deterministic_loader(data, batch_size=3, seed=5, epoch=2,
                                                                    shuffle=True, shard=(rank, 2))]
              for rank in range(2)]
    assert len(one) == len(shares[0]) == len(shares[1]) == 3
    assert [a + b for a, b in zip(*shares)] == one


def test_global_batchnorm_keeps_the_parameters_and_the_state_dict():
    from gasnas.distributed import global_batchnorm

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    bn = net[1]
    converted = global_batchnorm(net)
    assert converted is net and net[1] is not bn and net[1].weight is bn.weight
    assert set(net.state_dict()) == {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                     "1.num_batches_tracked"}


def test_python_dash_m_gasnas_runs_the_cli():
    import subprocess

    out = subprocess.run([sys.executable, "-m", "gasnas", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "gasnas" in out.stdout


def test_gasnas_train_on_two_ranks_trains_what_one_process_trains_at_the_global_batch(scenario):
    single = scenario["single"]["trained"]
    ranks = [scenario["resumed"][rank]["trained"] for rank in range(WORLD)]
    assert ranks[0]["last"]["loss"] == pytest.approx(single["last"]["loss"], abs=TOL)  # the global batches' loss
    for name, one in single["weights"].items():
        assert torch.equal(ranks[0]["weights"][name], ranks[1]["weights"][name]), name
        assert torch.allclose(ranks[0]["weights"][name].double(), one.double(), rtol=0, atol=TOL), name
    trained = scenario["run_dir"].parent.parent / "trained"
    assert ranks[0]["run_dir"] == ranks[1]["run_dir"] == str(trained / "ddp")  # rank 0 named it, for every rank
    assert sorted(p.name for p in trained.iterdir()) == ["ddp", "single"]  # rank 0 alone created and wrote
    assert (trained / "ddp" / "best.pt").is_file() and (trained / "ddp" / "metrics.jsonl").is_file()


def test_the_collectives_timeout_comes_from_the_environment(monkeypatch):
    from gasnas.distributed import DEFAULT_TIMEOUT_S, timeout_s
    from gasnas.errors import ConfigError

    monkeypatch.delenv("GASNAS_DIST_TIMEOUT", raising=False)
    assert timeout_s() == DEFAULT_TIMEOUT_S
    monkeypatch.setenv("GASNAS_DIST_TIMEOUT", "90")
    assert timeout_s() == 90
    for bad in ("0", "soon"):
        monkeypatch.setenv("GASNAS_DIST_TIMEOUT", bad)
        with pytest.raises(ConfigError, match="GASNAS_DIST_TIMEOUT='.*': expected a positive number of seconds"):
            timeout_s()
