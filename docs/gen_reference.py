"""mkdocs hook: fills generated sections so the reference never drifts from the code.

``<!-- gasnas:components -->`` becomes one table per component kind with every option (type, default, help);
``<!-- gasnas:cli -->`` becomes the help text of every command gasnas ships: the core's and the default plugins'.
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
    """The help of the core's commands and of the default plugins' (each marked with its plugin). Commands of
    other installed plugins, such as the example plugin under ``examples/``, are left out: the reference shows
    what gasnas ships, whatever else the machine building the docs has installed."""
    import click

    from gasnas.cli import main
    from gasnas.plugins import PluginManager

    shipped = PluginManager(entry_points=False).registry("commands")
    plugin_of = {c.name: c.plugin for c in shipped}
    root = click.Group(main.name, commands={**main.commands, **{c.name: c.factory for c in shipped}},
                       params=main.params, help=main.help, context_settings=main.context_settings)
    out = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        ctx = click.Context(cmd, info_name=" ".join(path))
        origin = f"From the default plugin `{plugin_of[path[1]]}`.\n\n" if len(path) == 2 and path[1] in plugin_of \
            else ""
        out.append(f"## `{' '.join(path)}`\n\n{origin}```text\n{cmd.get_help(ctx)}\n```\n")
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name])

    walk(root, ["gasnas"])
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- gasnas:components -->" in markdown:
        markdown = markdown.replace("<!-- gasnas:components -->", _components())
    if "<!-- gasnas:cli -->" in markdown:
        markdown = markdown.replace("<!-- gasnas:cli -->", _cli())
    return markdown
