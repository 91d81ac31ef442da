"""The default plugins of gasnas, importable as ``gasnas_plugins``.

Each module registers its components through the same public hooks a third-party plugin uses; the core lists
the modules in :data:`gasnas.plugins.DEFAULT_PLUGINS`. Registration modules import no torch: they point to
their implementations with ``"module:attr"`` paths, loaded when a component is built.
"""
