"""The error family for mistakes a user can make and fix.

Every error a user can cause (a wrong config key, a missing dataset file, a corrupt checkpoint, an unknown
plugin name) is a :class:`GasnasError`. The CLI prints its message in one panel and exits with status 2; a
traceback appears only with ``--debug``. Code never uses ``assert`` for user input.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping

__all__ = [
    "GasnasError",
    "ConfigError",
    "PluginError",
    "UnknownComponentError",
    "DuplicateComponentError",
    "IncompatibleComponentsError",
    "DataError",
    "CheckpointError",
    "LatencyError",
    "MissingDependencyError",
    "DivergedError",
    "DistributedError",
    "ensure_finite",
    "closest",
]


class GasnasError(Exception):
    """Base class of every error the user can fix; the CLI exits 2 on it."""

    exit_code = 2


class ConfigError(GasnasError):
    """A config file or an override is invalid: YAML syntax, unknown key, wrong type, bad value."""


class PluginError(GasnasError):
    """A plugin failed to import or to register, or implements a hook that does not exist."""


class UnknownComponentError(GasnasError):
    """A component name that no plugin registered."""


class DuplicateComponentError(PluginError):
    """Two plugins registered the same name for the same component kind."""


class IncompatibleComponentsError(GasnasError):
    """Two components that cannot work together, e.g. a strategy that needs a supernet and a space without one."""


class DataError(GasnasError):
    """A dataset file is missing, unreadable or not what was expected."""


class CheckpointError(GasnasError):
    """A checkpoint or run directory is missing, corrupt or from another run."""


class LatencyError(GasnasError):
    """A latency estimator cannot time or estimate what it was asked to."""


class DivergedError(GasnasError):
    """A loss, a metric or a parameter became NaN or infinite: the run stops, its last good checkpoint kept."""


def ensure_finite(values: Mapping[str, float], where: str, advice: str = "") -> None:
    """Raise :class:`DivergedError` naming ``where`` (e.g. "epoch 3, step 17") and the first value that is not
    finite in ``values``."""
    for name, value in values.items():
        if isinstance(value, (int, float)) and not math.isfinite(value):
            raise DivergedError(f"{where}: {name} is {value}; the run stopped and its last good checkpoint is kept"
                                f"{'; ' + advice if advice else ''}")


class DistributedError(GasnasError):
    """A process of a distributed run (torchrun) failed, died or stopped answering: every rank stops, the last
    checkpoint kept."""


class MissingDependencyError(GasnasError):
    """An optional dependency is not installed; the message says what to install."""

    @classmethod
    def for_module(cls, module: str, extra: str | None = None, purpose: str = "") -> MissingDependencyError:
        hint = f"pip install 'gasnas[{extra}]'" if extra else f"pip install {module}"
        what = f" (needed {purpose})" if purpose else ""
        return cls(f"the optional dependency '{module}' is not installed{what}; install it with: {hint}")


def closest(name: str, candidates: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix naming the closest candidate, or ``""`` when none is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
