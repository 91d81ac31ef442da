"""Search strategy plugins."""
