"""mkdocs hook: fills generated sections so the reference never drifts from the code.

``<!-- gasnas:components -->`` becomes one table per component kind with every option (type, default, help);
``<!-- gasnas:cli -->`` becomes the help text of every command, plugin commands included.
"""

from __future__ import annotations

import dataclasses
import typing


def _type(tp) -> str:
    from gasnas.options import _type_name

    return _type_name(tp).replace("|", "\\|")


def _components() -> str:
    from gasnas.options import help_of, options_to_dict, range_of
    from gasnas.plugins import PluginManager
    from gasnas.registry import REGISTRY_TYPES

    pm = PluginManager()
    out = []
    for kind in REGISTRY_TYPES:
        registry = pm.registry(kind)
        if kind == "commands":
            continue
        out.append(f"## {kind.capitalize()}\n")
        if not len(registry):
            out.append("_None registered._\n")
        for comp in registry:
            traits = ""
            if "capabilities" in comp.traits:
                traits = f" Capabilities: {', '.join(sorted(comp.traits['capabilities']))}."
            if "requires" in comp.traits:
                traits = f" Requires: {', '.join(sorted(comp.traits['requires'])) or 'nothing'}."
            out.append(f"### `{comp.name}`\n\n{comp.description} (plugin `{comp.plugin}`).{traits}\n")
            if comp.options is None:
                out.append("No options.\n")
                continue
            hints = typing.get_type_hints(comp.options)
            defaults = comp.options()
            rows = ["| option | type | default | allowed | meaning |", "|---|---|---|---|---|"]
            for f in dataclasses.fields(comp.options):
                default = options_to_dict(getattr(defaults, f.name))
                allowed = range_of(f).describe() if range_of(f) is not None else ""
                rows.append(f"| `{f.name}` | {_type(hints[f.name])} | `{default!r}` | {allowed} | {help_of(f)} |")
            out.append("\n".join(rows) + "\n")
    return "\n".join(out)


def _cli() -> str:
    import click

    from gasnas.cli import main

    out = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        ctx = click.Context(cmd, info_name=" ".join(path))
        out.append(f"## `{' '.join(path)}`\n\n```text\n{cmd.get_help(ctx)}\n```\n")
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name])

    walk(main, ["gasnas"])
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- gasnas:components -->" in markdown:
        markdown = markdown.replace("<!-- gasnas:components -->", _components())
    if "<!-- gasnas:cli -->" in markdown:
        markdown = markdown.replace("<!-- gasnas:cli -->", _cli())
    return markdown
