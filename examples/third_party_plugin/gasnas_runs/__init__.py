"""gasnas-runs: list gasnas run directories, and keep a CSV copy of each run's metrics."""
