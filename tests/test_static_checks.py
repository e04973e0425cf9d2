"""mypy --strict (with the returns plugin, per mypy.ini), pyright strict (per pyrightconfig.json)
and ruff are part of the test suite."""

from __future__ import annotations

import json
import os
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
        # pyright's wrapper would otherwise look up its latest version online.
        env={**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"},
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


@pytest.mark.slow
def test_pyright_strict_passes_on_ccg_tests_and_benchmarks() -> None:
    # Everything in pyrightconfig.json applies: include (ccg, tests, benchmarks), exclude.
    result = _run("pyright", "--project", "pyrightconfig.json", "--outputjson")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads(result.stdout)
    errors = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']} ({d.get('rule', '')})"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert not errors, "\n".join(errors)
    assert report["summary"]["errorCount"] == 0
    assert report["summary"]["filesAnalyzed"] > 0
