"""The Python examples in the docs run as they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["hooks.md", "writing-plugins.md"]


def _blocks(page: str) -> list:
    text = (ROOT / "docs" / page).read_text()
    return [pytest.param(code, id=f"{page}:{i}") for i, code in enumerate(re.findall(r"```python\n(.*?)```", text, re.S))]


@pytest.mark.parametrize("code", [b for page in PAGES for b in _blocks(page)])
def test_docs_example_runs(code, monkeypatch):
    import sys
    import types

    module = types.ModuleType("docs_example")  # dataclasses and plugins look their module up in sys.modules
    monkeypatch.setitem(sys.modules, "docs_example", module)
    exec(compile(code, "<docs>", "exec"), module.__dict__)
