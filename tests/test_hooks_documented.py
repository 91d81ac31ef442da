"""Meta-tests: every hook is documented in docs/hooks.md with its exact signature, and has a test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from gasnas import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = [name for name in dir(hookspecs) if name.startswith("gasnas_")]


def test_hook_lists_are_complete():
    assert set(HOOKS) == set(hookspecs.REGISTRATION_HOOKS) | set(hookspecs.EVENT_HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_signature(hook):
    docs = (ROOT / "docs" / "hooks.md").read_text()
    signature = f"{hook}{inspect.signature(getattr(hookspecs, hook))}".replace("'", "")
    assert f"## {hook}" in docs, f"docs/hooks.md has no section for {hook}"
    assert signature in docs, f"docs/hooks.md does not show the signature {signature}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    tests = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != Path(__file__).name)
    assert re.search(rf"\b{hook}\b", tests), f"no test mentions {hook}"
