"""The commands ``train``, ``eval``, ``export``, ``benchmark``, ``compare`` and ``data`` (registration only).

Each command lives in its own module and imports torch inside its function, so ``gasnas --help`` stays fast.
"""

from __future__ import annotations

from gasnas import hookimpl
from gasnas_plugins.commands.benchmark import benchmark
from gasnas_plugins.commands.compare import compare
from gasnas_plugins.commands.data import data
from gasnas_plugins.commands.evaluate import evaluate
from gasnas_plugins.commands.export import export
from gasnas_plugins.commands.train import train


@hookimpl
def gasnas_register_commands(registry) -> None:
    for command in (train, evaluate, export, benchmark, compare, data):
        registry.add(command)
