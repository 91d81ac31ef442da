"""Event-hook plugins: they watch a search through the engine's event hooks."""
