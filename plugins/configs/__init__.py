"""Packaged configs: quickstart.yaml (the config `gasnas search` runs without an argument)."""
