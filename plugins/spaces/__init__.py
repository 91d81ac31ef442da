"""Search space plugins."""
