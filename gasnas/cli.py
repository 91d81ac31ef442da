"""The ``gasnas`` command line. Importing this module does not import torch: start-up stays fast.

Core commands: ``search``, ``plugins``, ``config schema|check``, ``init``. Plugins add more through
``gasnas_register_commands``. Errors of the user's making print one panel and exit 2; ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from gasnas import __version__
from gasnas.config import SECTIONS
from gasnas.errors import GasnasError
from gasnas.threads import threads_option

__all__ = ["main"]


class GasnasGroup(click.Group):
    """A click group that adds the plugins' commands and turns :class:`GasnasError` into exit status 2."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        from gasnas.plugins import get_plugin_manager

        return {c.name: c.factory for c in get_plugin_manager().registry("commands")}  # type: ignore[misc]

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        try:
            names |= set(self._plugin_commands(ctx))
        except GasnasError as exc:  # still list the core commands; the error shows when one is used
            logging.getLogger(__name__).debug("plugin commands unavailable: %s", exc)
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        return self._plugin_commands(ctx).get(name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        argv = kwargs.get("args") if kwargs.get("args") is not None else (args[0] if args else sys.argv[1:])
        debug = "--debug" in list(argv or [])
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except GasnasError as exc:
            if debug:
                raise
            from gasnas.console import print_error

            print_error(str(exc), type(exc).__name__)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        except KeyboardInterrupt:
            click.echo("interrupted; a search resumes with: gasnas search --resume RUN_DIR", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)


@click.group(cls=GasnasGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gasnas")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr as well.")
def main(debug: bool, verbose: bool) -> None:
    """gasnas: neural architecture search for real-time semantic segmentation."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value (repeatable).")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), help="Continue the search in RUN_DIR.")
@click.option("--device", help="auto, cpu, cuda or cuda:N (overrides the config).")
@threads_option
@click.option("--output", help="Directory for run directories (overrides the config).")
@click.option("--name", help="Run directory name.")
def search(config: Path | None, overrides: tuple[str, ...], resume_dir: Path | None, device: str | None,
           threads: int | None, output: str | None, name: str | None) -> None:
    """Search an architecture as CONFIG describes (without CONFIG: the quickstart on digit-scenes)."""
    from gasnas.config import default_config_path, load_config
    from gasnas.console import RichReporter, console, table, warning_rows
    from gasnas.engine import Engine

    reporter = RichReporter()
    if resume_dir is not None:
        if config is not None or overrides:
            raise click.UsageError("--resume continues a run with its own config; do not pass CONFIG or --set")
        engine = Engine.resume(resume_dir, reporter=reporter, device=device, threads=threads)
        if engine.dist.is_main:
            after = engine.checkpoint["epoch"] if engine.checkpoint else "(none)"
            console.print(f"resuming [bold]{resume_dir}[/] after epoch {after}")
    else:
        path = config or default_config_path()
        extra = [*overrides, *([f"output={output}"] if output else []), *([f"name={name}"] if name else [])]
        engine = Engine(load_config(path, extra), reporter=reporter, device=device, threads=threads)
    result = engine.run()
    from gasnas.distributed import shutdown

    shutdown()
    if not engine.dist.is_main:  # under torchrun, rank 0 reports the result
        return
    best = result.best
    meta = best.metadata
    rows: list[tuple[str, Any]] = [("architecture", f"{best.id} ({engine.space.describe(best.sample)})")]
    for key in ("estimated_latency", "measured_latency"):
        if key in meta:
            rows.append((key.replace("_", " "), f"{meta[key]:.3f} {meta.get(key + '_unit', 'ms')}"))
    if "estimator" in meta:
        rows.append(("estimated with", meta["estimator"]))
    if "measured_with" in meta:
        rows.append(("measured with", meta["measured_with"]))
    rows += [(k.replace("_", " "), v) for k, v in result.metrics.items()]
    rows += [(f"file: {k}", str(v)) for k, v in result.files.items()]
    rows += warning_rows(result.warnings)
    flagged = f" with {len(result.warnings)} warning(s)" if result.warnings else ""
    console.print(table(f"search finished{flagged}: {engine.run_dir.path}", ["", ""], rows))
    console.print(f"next: [bold]gasnas train {result.files['architecture']}[/]", soft_wrap=True)


@main.command()
def plugins() -> None:
    """List the loaded plugins and the components each registers."""
    from gasnas.console import console, table
    from gasnas.plugins import get_plugin_manager

    pm = get_plugin_manager()
    pm.registries  # noqa: B018 - fills each plugin's components
    rows = []
    for info in pm.plugins.values():
        parts = [f"{kind}: {', '.join(names)}" for kind, names in info.components.items()]
        rows.append((info.name, info.version, info.source, "\n".join(parts) or "(event hooks only)"))
    console.print(table("gasnas plugins", ["plugin", "version", "source", "registers"], rows,
                        caption="disable with GASNAS_DISABLE_PLUGINS=name,..."))


@main.group()
def config() -> None:
    """Config files: JSON schema and validation."""


@config.command("schema")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to a file instead of stdout.")
def config_schema_cmd(output: Path | None) -> None:
    """Print the JSON schema of search configs (point your editor's YAML support at it)."""
    from gasnas.config import config_schema

    text = json.dumps(config_schema(), indent=2)
    if output:
        output.write_text(text + "\n")
        click.echo(f"wrote {output}")
    else:
        click.echo(text)


@config.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
def config_check(path: Path, overrides: tuple[str, ...]) -> None:
    """Validate a config and print it fully resolved (after the chain of files it extends, if any)."""
    import yaml

    from gasnas.config import load_config

    cfg = load_config(path, overrides)
    if cfg.bases:
        chain = "".join(f"#   {file}\n" for file in (*cfg.bases, cfg.source))
        click.echo(f"# merged from (later files win):\n{chain}", nl=False)
    click.echo(yaml.safe_dump(cfg.to_dict(), sort_keys=False), nl=False)


def _component_options(command: Any) -> Any:
    """One ``--SECTION NAME`` option per component section of a search config (``gasnas init``)."""
    for section, (kind, _) in reversed(SECTIONS.items()):
        command = click.option(f"--{section}", metavar="NAME", help=f"Start the {section} section from this "
                               f"component (one of the registered {kind}; `gasnas plugins` lists them), with its own "
                               "params.")(command)
    return command


@main.command()
@click.argument("path", default="gasnas.yaml", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@_component_options
def init(path: Path, force: bool, **components: str | None) -> None:
    """Write a commented starter config to PATH (default gasnas.yaml): the quickstart's components, or the ones
    named, e.g. `gasnas init --strategy evolution --latency onnxruntime`."""
    from gasnas.config import starter_config

    if path.exists() and not force:
        raise GasnasError(f"{path} exists; pass --force to overwrite it")
    path.write_text(starter_config(components=components))
    click.echo(f"wrote {path}; run it with: gasnas search {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
