from __future__ import annotations

import json

import pytest
import yaml

from gasnas.architecture import Architecture
from gasnas.config import load_config
from gasnas.engine import Engine
from gasnas.errors import CheckpointError
from gasnas.reporting import NullReporter


def _run(config, **kw):
    return Engine(config, reporter=NullReporter(), **kw).run()


def test_search_writes_run_directory(toy_config):
    engine = Engine(load_config(toy_config), reporter=NullReporter())
    result = engine.run()
    run = engine.run_dir.path
    assert (run / "config.yaml").is_file() and (run / "checkpoint.pt").is_file()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1, 2]
    arch = Architecture.load(run / "architecture.yaml")
    assert arch == result.best and arch.space_name == "tiny"
    assert set(arch.sample) == {"op", "width"}
    assert len(list((run / "architectures").glob("top*.yaml"))) == 3
    assert json.loads((run / "summary.json").read_text())["architectures"][0]["id"] == arch.id
    assert (run / "curves.png").is_file()  # drawn by the curves plugin through gasnas_search_finished
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["strategy"]["params"]["per_epoch"] == 2


def test_same_seed_same_architecture(toy_config):
    a = _run(load_config(toy_config))
    b = _run(load_config(toy_config))
    assert [x.sample for x in a.architectures] == [x.sample for x in b.architectures]
    assert a.metrics["best"] == b.metrics["best"]


def test_resume_refuses_a_changed_config(toy_config):
    engine = Engine(load_config(toy_config, ["strategy.params.fail_at_epoch=0"]), reporter=NullReporter())
    with pytest.raises(KeyboardInterrupt):
        engine.run()
    run_dir = engine.run_dir.path
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["strategy"]["params"]["fail_at_epoch"] = None
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(CheckpointError, match="written for another config"):
        Engine.resume(run_dir, reporter=NullReporter())


def test_a_run_from_before_an_option_was_added_still_resumes(toy_config):
    """An older gasnas wrote config.yaml without an option added since (here `metric`, which now takes its
    default) and sealed its checkpoint with that file's digest: the run resumes. A value of the file that
    resolves otherwise now is refused even when the digests agree."""
    config = load_config(toy_config, ["strategy.params.fail_at_epoch=0"])
    engine = Engine(config, reporter=NullReporter())
    with pytest.raises(KeyboardInterrupt):
        engine.run()
    run_dir = engine.run_dir
    written = yaml.safe_load(run_dir.config_file.read_text())
    del written["strategy"]["params"]["metric"]  # what the older gasnas knew
    run_dir.config_file.write_text(yaml.safe_dump(written, sort_keys=False))
    run_dir.save_checkpoint({**run_dir.load_checkpoint(), "config_digest": config.digest_of(written)})
    assert Engine.resume(run_dir.path, reporter=NullReporter()).resuming

    elsewhere = {**written, "strategy": {**written["strategy"], "params": {**written["strategy"]["params"],
                                                                           "per_epoch": 7}}}
    assert not config.accepts(config.digest_of(elsewhere), elsewhere)
    assert config.accepts(config.digest_of(written), written) and not config.accepts(config.digest_of(written))


def test_resume_continues_from_checkpoint(toy_config, register):
    from gasnas import hookimpl

    full = _run(load_config(toy_config))

    class Kill:
        @hookimpl
        def gasnas_epoch_ended(self, run, epoch, metrics):
            if epoch == 1:
                raise KeyboardInterrupt  # dies after metrics, before the checkpoint of epoch 1

    name = register(Kill(), name="kill")
    engine = Engine(load_config(toy_config), reporter=NullReporter())
    with pytest.raises(KeyboardInterrupt):
        engine.run()
    from gasnas.plugins import get_plugin_manager

    get_plugin_manager().remove(name)
    run_dir = engine.run_dir.path
    resumed = Engine.resume(run_dir, reporter=NullReporter())
    assert resumed.checkpoint["epoch"] == 0
    result = resumed.run()
    assert [a.sample for a in result.architectures] == [a.sample for a in full.architectures]
    assert result.metrics["best"] == full.metrics["best"]
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]  # the half-logged epoch 1 was dropped and redone


def test_corrupt_checkpoint_is_a_clear_error(toy_config):
    engine = Engine(load_config(toy_config), reporter=NullReporter())
    engine.run()
    ckpt = engine.run_dir.checkpoint_file
    ckpt.write_bytes(ckpt.read_bytes()[: len(ckpt.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="checkpoint.pt: corrupt or unreadable checkpoint"):
        Engine.resume(engine.run_dir.path, reporter=NullReporter())


def test_resume_of_missing_or_foreign_directory(tmp_path):
    with pytest.raises(CheckpointError, match="run directory not found"):
        Engine.resume(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="not a gasnas run directory"):
        Engine.resume(tmp_path)


def test_cli_search_and_resume(toy_config, cli, tmp_path):
    result = cli("search", str(toy_config), "--name", "r1")
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "r1"
    assert "next: gasnas train" in result.output and str(run / "architecture.yaml") in result.output
    again = cli("search", "--resume", str(run))
    assert again.exit_code == 0, again.output
    assert Architecture.load(run / "architecture.yaml").sample
    bad = cli("search", str(toy_config), "--resume", str(run))
    assert bad.exit_code == 2 and "do not pass CONFIG" in bad.output


def test_event_hooks_are_called_in_order(toy_config, register):
    from gasnas import hookimpl

    calls = []

    class Spy:
        @hookimpl
        def gasnas_search_started(self, run):
            calls.append(("started", run.resumed_from_epoch))

        @hookimpl
        def gasnas_epoch_ended(self, run, epoch, metrics):
            calls.append(("epoch", epoch, "best" in metrics))

        @hookimpl
        def gasnas_architecture_derived(self, run, architecture, rank):
            calls.append(("derived", rank))

        @hookimpl
        def gasnas_search_finished(self, run, result):
            calls.append(("finished", len(result.architectures)))

    register(Spy(), name="spy")
    _run(load_config(toy_config))
    assert calls == [("started", None), ("epoch", 0, True), ("epoch", 1, True), ("epoch", 2, True),
                     ("derived", 0), ("derived", 1), ("derived", 2), ("finished", 3)]


def _flip_inside_the_state(path, marker: bytes) -> None:
    """Flip two bytes inside the stored tensor data (past the zip headers): the file still loads as a zip."""
    data = bytearray(path.read_bytes())
    at = data.index(marker)
    data[at] ^= 0x01
    data[at + len(marker) // 2] ^= 0x80
    path.write_bytes(bytes(data))


def test_a_damaged_checkpoint_is_refused_by_its_checksum_and_the_previous_one_is_kept(tmp_path):
    import torch

    from gasnas.run import RunDirectory

    run = RunDirectory(tmp_path / "run")
    run.path.mkdir()
    for epoch in (0, 1):
        run.save_checkpoint({"epoch": epoch, "state": {"alpha": torch.full((256,), 7.0 + epoch)}})
    assert run.load_checkpoint()["epoch"] == 1 and run.previous_checkpoint_file.is_file()
    _flip_inside_the_state(run.checkpoint_file, torch.full((16,), 8.0).numpy().tobytes())
    with pytest.raises(CheckpointError, match=r"checkpoint.pt: checksum mismatch: the file changed after it was "
                                              r"written.*The checkpoint before it is intact: move checkpoint.pt away"):
        run.load_checkpoint()
    run.checkpoint_file.unlink()  # what the message says to do
    previous = run.load_checkpoint()
    assert previous["epoch"] == 0 and torch.equal(previous["state"]["alpha"], torch.full((256,), 7.0))


def test_stray_temporary_files_of_a_killed_write_are_removed_on_resume(tmp_path):
    from gasnas.run import RunDirectory

    run = RunDirectory(tmp_path / "run")
    run.path.mkdir()
    run.save_checkpoint({"epoch": 0})
    stray = run.path / ".checkpoint.pt.abc123.tmp"
    stray.write_bytes(b"half a checkpoint")
    assert run.load_checkpoint()["epoch"] == 0
    assert not stray.exists()


def test_resume_without_any_checkpoint_restarts_without_duplicate_records(toy_config):
    engine = Engine(load_config(toy_config), reporter=NullReporter())
    engine.run()
    run_dir = engine.run_dir.path
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (run_dir / name).unlink()
    messages = []

    class Recorder(NullReporter):
        def message(self, text):
            messages.append(text)

    Engine.resume(run_dir, reporter=Recorder()).run()
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]
    assert any("no checkpoint to resume from; the search restarts at epoch 0" in m for m in messages)


def test_a_missing_last_checkpoint_resumes_from_the_one_before(toy_config):
    engine = Engine(load_config(toy_config), reporter=NullReporter())
    full = engine.run()
    run_dir = engine.run_dir.path
    (run_dir / "checkpoint.pt").unlink()
    resumed = Engine.resume(run_dir, reporter=NullReporter())
    assert resumed.checkpoint["epoch"] == 1
    result = resumed.run()
    assert [a.sample for a in result.architectures] == [a.sample for a in full.architectures]
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]
