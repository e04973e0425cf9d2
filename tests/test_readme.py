"""The README's examples marked `<!-- runs as a test -->` run, and their assertions hold."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"<!-- runs as a test: tests/test_readme.py -->\n```python\n(.*?)```", re.S)


def _examples() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def test_the_readme_has_runnable_examples() -> None:
    assert len(_examples()) == 2


@pytest.mark.parametrize(
    ("source", "test_functions"),
    list(zip(_examples(), [0, 1], strict=True)),
    ids=["fake-transport", "property-test"],
)
def test_readme_example_runs(source: str, test_functions: int) -> None:
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(source, str(README), "exec"), namespace)  # our own README
    tests = [
        value for name, value in namespace.items() if name.startswith("test_") and callable(value)
    ]
    assert len(tests) == test_functions
    for test in tests:
        run: Callable[[], object] = test  # Hypothesis fills in the arguments
        run()
