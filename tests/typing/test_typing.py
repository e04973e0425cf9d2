"""ccg as its users' type checkers see it: what must pass, and what must be rejected.

- `accepted.py` pins every public type a user touches with `assert_type`; it is part of the
  normal mypy and pyright runs (`tests/test_static_checks.py`), and its functions run here.
- `rejected/*.py` is user code both checkers must refuse. Each failing line ends with
  `# E: <mypy codes> | <pyright rules>`. The slow tests run each checker, with the project's
  configuration, on exactly those files and require every marked line to be reported with
  exactly its codes, and nothing else anywhere. (The default runs exclude `rejected/`:
  mypy.ini's `exclude` and pyrightconfig.json's `exclude`.)
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import tokenize
from collections.abc import Callable, Iterator
from typing import Any, Literal, get_args, get_type_hints

import pytest

from tests.typing import accepted

ROOT = pathlib.Path(__file__).resolve().parents[2]
REJECTED_DIR = ROOT / "tests" / "typing" / "rejected"
REJECTED = sorted(p for p in REJECTED_DIR.glob("*.py") if p.name != "__init__.py")

Checker = Literal["mypy", "pyright"]
Findings = dict[tuple[str, int], frozenset[str]]
"""(file name, 1-based line) -> the codes (mypy) or rules (pyright) reported there."""

_MARK = re.compile(r"^#\s*E:\s*(?P<mypy>[^|]*)\|(?P<pyright>[^#]*)$")


def _codes(text: str) -> frozenset[str]:
    return frozenset(code.strip() for code in text.split(",") if code.strip())


def _expected(checker: Checker) -> Findings:
    """The `# E:` comments of the rejected files (real comments only, found by tokenize)."""
    expected: Findings = {}
    for path in REJECTED:
        source = path.read_text(encoding="utf-8")
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.COMMENT:
                continue
            mark = _MARK.match(token.string)
            if mark is None:
                assert not token.string.startswith("# E"), f"{path.name}:{token.start[0]}"
                continue
            codes = _codes(mark.group(checker))
            assert codes, f"{path.name}:{token.start[0]}: no {checker} code in {token.string!r}"
            expected[(path.name, token.start[0])] = codes
    return expected


def _run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


def _mypy_findings() -> Findings:
    # Files named on the command line are checked even though mypy.ini excludes them.
    files = [str(p) for p in REJECTED]
    result = _run("mypy", "--config-file", str(ROOT / "mypy.ini"), "--output", "json", *files)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    found: dict[tuple[str, int], set[str]] = {}
    for line in result.stdout.splitlines():
        if not line.startswith("{"):
            continue
        diagnostic = json.loads(line)
        if diagnostic["severity"] != "error":
            continue  # notes only explain an error
        path = (ROOT / diagnostic["file"]).resolve()
        number = int(diagnostic["line"])
        where = (path.name, number) if path.parent == REJECTED_DIR else (str(path), number)
        found.setdefault(where, set()).add(str(diagnostic["code"]))
    return {where: frozenset(codes) for where, codes in found.items()}


def _pyright_findings(tmp_path: pathlib.Path) -> Findings:
    # The project's configuration, less the `exclude` that keeps these files out of the
    # default run (pyright applies it to files named on the command line too). Paths in
    # a configuration are relative to its own directory, so the copy names them absolutely.
    config = json.loads((ROOT / "pyrightconfig.json").read_text(encoding="utf-8"))
    config.pop("include", None)
    config.update(exclude=[], venvPath=str(ROOT), extraPaths=[str(ROOT)])
    config_file = tmp_path / "pyrightconfig.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    env = {**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}
    files = [str(p) for p in REJECTED]
    result = _run("pyright", "--project", str(config_file), "--outputjson", *files, env=env)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["filesAnalyzed"] == len(REJECTED), report["summary"]
    found: dict[tuple[str, int], set[str]] = {}
    for diagnostic in report["generalDiagnostics"]:
        if diagnostic["severity"] != "error":
            continue
        path = pathlib.Path(diagnostic["file"])
        number = int(diagnostic["range"]["start"]["line"]) + 1
        where = (path.name, number) if path.parent == REJECTED_DIR else (str(path), number)
        found.setdefault(where, set()).add(str(diagnostic.get("rule", "<no rule>")))
    return {where: frozenset(codes) for where, codes in found.items()}


def _compare(expected: Findings, found: Findings) -> list[str]:
    problems: list[str] = []
    for where in sorted(expected.keys() | found.keys()):
        want, got = expected.get(where, frozenset()), found.get(where, frozenset())
        if want != got:
            file, line = where
            wanted, reported = sorted(want) or "nothing", sorted(got) or "nothing"
            problems.append(f"{file}:{line}: expected {wanted}, reported {reported}")
    return problems


# -- the rejected files ------------------------------------------------------------------


def test_each_rejected_file_has_expectations_for_both_checkers() -> None:
    assert len(REJECTED) >= 7
    for checker in ("mypy", "pyright"):
        marked = {file for file, _ in _expected(checker)}
        assert marked == {p.name for p in REJECTED}, checker
    assert _expected("mypy").keys() == _expected("pyright").keys()


@pytest.mark.slow
def test_mypy_rejects_exactly_the_marked_lines() -> None:
    problems = _compare(_expected("mypy"), _mypy_findings())
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_pyright_rejects_exactly_the_marked_lines(tmp_path: pathlib.Path) -> None:
    problems = _compare(_expected("pyright"), _pyright_findings(tmp_path))
    assert not problems, "\n".join(problems)


# -- the accepted file -------------------------------------------------------------------


def _uses() -> Iterator[Callable[[], object]]:
    for name, value in vars(accepted).items():
        if name.startswith("use_") and callable(value):
            yield value


@pytest.mark.parametrize("use", list(_uses()), ids=lambda use: use.__name__)
def test_accepted_user_code_runs(use: Callable[[], object]) -> None:
    use()


# -- no Any in public signatures ---------------------------------------------------------

PUBLIC_MODULES = ["ccg", "ccg.core", "ccg.interp", "ccg.testing", "ccg.testing.strategies"]


def _mentions_any(hint: object) -> bool:
    return hint is Any or any(_mentions_any(arg) for arg in get_args(hint))


def _signatures(module_name: str) -> Iterator[tuple[str, object]]:
    """(qualified name, function or class) for every public callable of `module_name`."""
    module = importlib.import_module(module_name)
    for name in module.__all__:
        value: object = getattr(module, name)
        if inspect.isclass(value):
            yield f"{module_name}.{name}", value
            for member_name in vars(value):
                if member_name.startswith("_") and member_name not in ("__init__", "__call__"):
                    continue
                member = getattr(value, member_name)  # a classmethod comes bound
                function = member.fget if isinstance(member, property) else member
                if inspect.isfunction(function) or inspect.ismethod(function):
                    yield f"{module_name}.{name}.{member_name}", function
        elif inspect.isfunction(value) or hasattr(value, "__wrapped__"):
            yield f"{module_name}.{name}", value


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_signatures_never_mention_any(module_name: str) -> None:
    leaks = [
        f"{qualified}: {parameter} is {hint}"
        for qualified, value in _signatures(module_name)
        for parameter, hint in get_type_hints(value).items()
        if _mentions_any(hint)
    ]
    assert not leaks, "\n".join(leaks)
