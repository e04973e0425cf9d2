"""mypy --strict (with the returns plugin, per mypy.ini) and ruff are part of the test suite."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_mypy_strict_passes_on_ccg_tests_and_benchmarks() -> None:
    result = _run("mypy", "--config-file", "mypy.ini")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


@pytest.mark.slow
def test_ruff_passes() -> None:
    result = _run("ruff", "check", "ccg", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr
