"""The README's examples marked ``<!-- readme-test -->`` run and their tests pass."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- readme-test -->\s*```python\n(.*?)```", re.DOTALL)


def readme_examples() -> list[str]:
    """The Python blocks the README marks as tested."""
    return BLOCK.findall(README.read_text())


def test_readme_has_tested_examples() -> None:
    """At least one README example is marked for testing (the marker has not been lost)."""
    assert readme_examples()


@pytest.mark.parametrize("source", readme_examples())
def test_readme_example_passes(source: str) -> None:
    """Each marked example executes and every test function in it passes."""
    module = types.ModuleType("readme_example")
    exec(compile(source, str(README), "exec"), module.__dict__)  # noqa: S102 - our own README
    tests = [v for k, v in vars(module).items() if k.startswith("test_") and callable(v)]
    assert tests
    for test in tests:
        test()
