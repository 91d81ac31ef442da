"""Deprecated: moved to :mod:`gasnas.runtime.timing`; import it from there.

This module is an alias of the new one (the same module object, so names, private helpers and monkeypatching
all keep working) and warns once, on import.
"""

import importlib
import sys
import warnings

warnings.warn("gasnas_plugins.runtime.timing is deprecated; import gasnas.runtime.timing instead",
              DeprecationWarning, stacklevel=2)
sys.modules[__name__] = importlib.import_module("gasnas.runtime.timing")
