"""Registration and options of the ``device-table`` estimator and the ``gasnas device-table`` command.

No torch here: the estimator's module is named lazily, and the command imports what it needs when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gasnas import hookimpl
from gasnas.api import check_ranges, option


@dataclass(frozen=True)
class DeviceTableOptions:
    """A CSV table (columns ``block`` and ``ms``) of blocks timed on your device."""

    table: str | None = option(None, "the CSV file; `gasnas device-table template CONFIG -o FILE` lists the blocks "
                                     "the config's space needs")
    device: str = option("my device", "what the table was measured on (shown in reports)")
    untimed: Literal["error", "macs"] = option(
        "error", "blocks missing from the table: an error, or launch_ms + their MACs at gmacs_per_s (a rough "
                 "stand-in while you measure)")
    gmacs_per_s: float = option(10.0, "throughput assumed for untimed blocks", gt=0)
    launch_ms: float = option(0.02, "fixed cost assumed for each untimed block", ge=0)
    exclude_zero: bool = option(True, "expected latency over the non-zero operations of each choice, as the "
                                      "lookup table does")

    def __post_init__(self) -> None:
        check_ranges(self)  # the ranges declared above, for options built in code too


@hookimpl
def gasnas_register_latency_estimators(registry) -> None:
    registry.add("device-table", "device_table.estimator:DeviceTableEstimator", options=DeviceTableOptions,
                 example={"untimed": "macs"},
                 description="per-block latencies measured on your own device, read from a CSV table; "
                             "differentiable expected latency (example plugin)")


@hookimpl
def gasnas_register_commands(registry) -> None:
    from device_table.cli import device_table

    registry.add(device_table)
