"""One rank of a test's distributed search: :func:`search_rank` runs in each of 2 spawned processes.

Each rank runs the engine as under ``torchrun`` (the same environment variables, gloo on CPU) and saves to
``out/rank<N>.pt`` what :func:`run_search` records: after every training step its architecture parameters (and
communicator) and supernet weights, and at the end the derived architectures. A rank told to ``die_at`` a step
kills itself there with SIGKILL (as ``kill -9`` would); a rank that stops on an error saves the error's message.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_env(rank: int, world: int, port: int) -> dict[str, str]:
    """The variables torchrun sets for a worker (those gasnas and torch.distributed read)."""
    return {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


def run_search(config: Path | None, overrides: list[str], dtype: str = "float32", resume: Path | None = None,
               die_at: int | None = None) -> dict[str, Any]:
    """Run the search of ``config`` (or resume the run directory ``resume``) in this process -- distributed when
    the torchrun variables are set -- with torch's default dtype ``dtype``. Returns the architecture parameters
    and the weights after every step, the derived architectures and the run directory. ``die_at``: SIGKILL this
    process when that many steps are done."""
    import torch

    import toy_scenes
    from gasnas.config import load_config
    from gasnas.engine import Engine, EngineContext
    from gasnas.plugins import PluginManager

    pm = PluginManager()
    pm.add(toy_scenes, name="toy_scenes")
    pm.check_pending()
    steps: list[torch.Tensor] = []
    weights: list[torch.Tensor] = []
    end_step = EngineContext.end_step

    def recording_end_step(ctx: EngineContext, values: Any) -> None:
        strategy = ctx._engine.strategy
        steps.append(torch.cat([p.detach().flatten() for p in strategy.arch_params]).clone())
        weights.append(torch.cat([p.detach().flatten() for p in strategy.supernet.parameters()]).clone())
        if die_at is not None and len(steps) == die_at:
            os.kill(os.getpid(), signal.SIGKILL)
        end_step(ctx, values)

    EngineContext.end_step = recording_end_step  # type: ignore[method-assign]
    default = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        engine = (Engine.resume(resume, pm=pm) if resume is not None else
                  Engine(load_config(config, overrides, pm=pm), pm=pm))
        result = engine.run()
    finally:
        EngineContext.end_step = end_step  # type: ignore[method-assign]
        torch.set_default_dtype(default)
    return {"steps": steps, "weights": weights, "architectures": [a.sample for a in result.architectures],
            "run_dir": str(engine.run_dir.path)}


def run_training(architecture: Path, overrides: list[str], dtype: str = "float32") -> dict[str, Any]:
    """``gasnas train ARCHITECTURE`` in this process (distributed when the torchrun variables are set), as the
    command runs it, in ``dtype``: the trained weights and the last epoch's record."""
    import torch

    import toy_scenes
    from gasnas.api import NullReporter, RunDirectory, setup_distributed
    from gasnas.plugins import PluginManager
    from gasnas_plugins.training.config import load_train_config
    from gasnas_plugins.training.trainer import Trainer

    pm = PluginManager()
    pm.add(toy_scenes, name="toy_scenes")
    pm.check_pending()
    default = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        config = load_train_config(str(architecture), None, overrides, pm=pm)
        dist = setup_distributed()
        run_dir = RunDirectory(dist.from_main(lambda: RunDirectory.create(config.output, config.name).path),
                               writable=dist.is_main)
        run_dir.write_config(config)
        trainer = Trainer(config, run_dir, pm=pm, reporter=NullReporter())
        result = trainer.fit()
    finally:
        torch.set_default_dtype(default)
    return {"weights": {k: v.clone() for k, v in trainer.model.state_dict().items()}, "last": result.last,
            "run_dir": str(run_dir.path)}


def search_rank(rank: int, world: int, port: int, out: str, config: str | None, overrides: list[str],
                dtype: str = "float32", resume: str | None = None, die_at: dict[int, int] | None = None,
                train: list[str] | None = None) -> None:
    """A spawned rank: set the torchrun environment, search (``die_at``: rank -> step to SIGKILL itself at),
    then, with ``train`` overrides, train the derived architecture; save what :func:`run_search` (and
    :func:`run_training`, as ``trained``) return, or the message of the :class:`GasnasError` that stopped it."""
    os.environ.update(torchrun_env(rank, world, port))
    import torch

    from gasnas.distributed import shutdown
    from gasnas.errors import GasnasError

    torch.set_num_threads(1)
    try:
        record = run_search(Path(config) if config else None, overrides, dtype, Path(resume) if resume else None,
                            (die_at or {}).get(rank))
        if train is not None:
            from gasnas.distributed import from_env

            from_env().barrier()  # rank 0 has written architecture.yaml
            record["trained"] = run_training(Path(record["run_dir"]) / "architecture.yaml", train, dtype)
    except GasnasError as exc:
        torch.save({"error": f"{type(exc).__name__}: {exc}"}, Path(out) / f"rank{rank}.pt")
        raise SystemExit(3) from None
    torch.save(record, Path(out) / f"rank{rank}.pt")
    shutdown()


def spawn_ranks(world: int, out: Path, *args: Any, timeout: float = 600.0, **kwargs: Any) -> list[int | None]:
    """Run :func:`search_rank` in ``world`` fresh processes (each joined on its own: one rank's death does not
    kill the others); their exit codes (negative: the signal that killed it)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    out.mkdir(parents=True, exist_ok=True)
    procs = [ctx.Process(target=search_rank, args=(rank, world, port, str(out), *args), kwargs=kwargs)
             for rank in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
    for p in procs:
        if p.is_alive():  # a hung rank: the test fails on its exit code None, and no process is left behind
            p.kill()
            p.join()
    return [p.exitcode for p in procs]
