"""Deprecated: the runtime code moved to the core as :mod:`gasnas.runtime`.

``gasnas_plugins.runtime.export`` / ``macs`` / ``providers`` / ``timing`` are aliases of ``gasnas.runtime.*``
that warn on import; import from :mod:`gasnas.runtime` instead.
"""
