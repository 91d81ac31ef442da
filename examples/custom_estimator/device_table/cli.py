"""``gasnas device-table template``: the blocks a config's space needs, to time on your device."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("device-table")
def device_table() -> None:
    """Latency tables measured on your own device."""


@device_table.command("template")
@click.argument("config", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The CSV to write.")
@click.option("--onnx", "onnx_dir", type=click.Path(path_type=Path), help="Also export each block to ONNX here.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value.")
def template(config: Path | None, output: Path, onnx_dir: Path | None, overrides: tuple[str, ...]) -> None:
    """Write the CSV of every block of CONFIG's space (default: the quickstart) at its dataset's input size."""
    from device_table.table import unique_blocks, write_template
    from gasnas.api import default_config_path, load_config
    from gasnas.api import get_plugin_manager

    pm = get_plugin_manager()
    cfg = load_config(config or default_config_path(), overrides, pm)
    dataset = pm.registry("datasets").get(cfg.dataset.name).build(cfg.dataset.params)
    space = pm.registry("search spaces").get(cfg.space.name).build(cfg.space.params)
    shape = (1, 3, *dataset.input_size)
    blocks = unique_blocks(space.cost_terms(shape, None, num_classes=dataset.num_classes))
    write_template(blocks, output, onnx_dir)
    click.echo(f"{len(blocks)} blocks at {'x'.join(map(str, shape))} -> {output}"
               + (f" (ONNX files in {onnx_dir})" if onnx_dir else "")
               + "; time each on your device and fill in the ms column")
