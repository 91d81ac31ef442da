"""Maps plugins/ to the import package gasnas_plugins; everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["gasnas", "gasnas.*"]),
        "gasnas_plugins",
        *("gasnas_plugins." + p for p in find_packages("plugins")),
    ],
)
