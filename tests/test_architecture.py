"""`ccg.core` stays a functional core: its modules import only from an allow-list.

No clock, randomness, logging, OS, sockets, threads, HTTP client, `returns.io`,
or the shell (`ccg.interp`, `ccg._*`). Each `ccg/core/*.py` is parsed with `ast`,
so imports inside functions, `if TYPE_CHECKING:` blocks and `__import__(...)` calls
are all seen, and nothing under test is executed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

CORE: Final = Path(__file__).parent.parent / "ccg" / "core"
CORE_PACKAGE: Final = "ccg.core"

ALLOWED_MODULES: Final = frozenset(
    {
        "__future__",
        "typing",
        "collections.abc",
        "enum",
        "math",
        "base64",
        "re",
        "urllib.parse",
        "returns.result",
        "returns.maybe",
        "returns.pipeline",
        "returns.pointfree",
    }
)
"""Modules allowed exactly (not their submodules)."""
ALLOWED_PACKAGES: Final = frozenset({"msgspec", CORE_PACKAGE})
"""Packages allowed together with all their submodules."""


def is_allowed(module: str) -> bool:
    """True when `module` (absolute, dotted) is on the allow-list."""
    return module in ALLOWED_MODULES or any(
        module == package or module.startswith(package + ".") for package in ALLOWED_PACKAGES
    )


def _absolute(module: str | None, level: int, package: str) -> str:
    """The absolute module a (possibly relative) `from ... import` names."""
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)] if level <= len(parts) else []
    return ".".join([*base, *([module] if module else [])])


def imported_modules(source: str, package: str = CORE_PACKAGE) -> Iterator[tuple[int, str]]:
    """`(line, module)` for every module `source` imports, as a module of `package` would.

    `from a import b` yields `a.b` when `a` itself is not allowed (so `from returns import
    result` is fine and `from returns import io` is not). `__import__("x")` and
    `importlib.import_module("x")` yield `x` (or `<dynamic>` when not a literal).
    """
    for node in ast.walk(ast.parse(source)):
        match node:
            case ast.Import(names=names):
                for alias in names:
                    yield node.lineno, alias.name
            case ast.ImportFrom(module=module, level=level, names=names):
                base = _absolute(module, level, package)
                if is_allowed(base):
                    yield node.lineno, base
                else:
                    for alias in names:
                        yield node.lineno, f"{base}.{alias.name}" if base else alias.name
            case ast.Call(func=ast.Name(id="__import__") | ast.Attribute(attr="import_module")):
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    yield node.lineno, first.value
                else:
                    yield node.lineno, "<dynamic>"
            case _:
                pass


def forbidden_imports(source: str, package: str = CORE_PACKAGE) -> list[str]:
    """`line: module` for each import of `source` that is not on the allow-list."""
    return [f"{line}: {m}" for line, m in imported_modules(source, package) if not is_allowed(m)]


CORE_FILES: Final = sorted(CORE.glob("*.py"))


def test_core_files_are_found() -> None:
    names = {path.name for path in CORE_FILES}
    assert {"__init__.py", "_machine.py", "_token.py", "_wire.py", "_effects.py"} <= names


@pytest.mark.parametrize("path", CORE_FILES, ids=[p.name for p in CORE_FILES])
def test_core_imports_only_from_the_allow_list(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import time",
        "import datetime",
        "from datetime import datetime",
        "import random",
        "import logging",
        "import os",
        "import os.path",
        "from os import environ",
        "import socket",
        "import threading",
        "import urllib3",
        "import urllib.request",
        "from urllib import request",
        "import collections",
        "from returns.io import IO",
        "from returns import io",
        "import returns",
        "from ccg.interp import AuthManager",
        "from ccg import _errors",
        "from ccg._errors import CcgError",
        "import ccg._client",
        "from .. import _client",
        "from ..interp._manager import AuthManager",
        "import ccg.coreish",
        "def f():\n    import time\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import os\n",
        "__import__('time')",
        "importlib.import_module('time')",
        "name = 'time'\n__import__(name)",
    ],
)
def test_the_checker_rejects_forbidden_imports(source: str) -> None:
    assert forbidden_imports(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "from typing import Final, assert_never",
        "from collections.abc import Callable",
        "from collections import abc",
        "import math, base64, re, enum",
        "from urllib.parse import quote, urlencode",
        "from urllib import parse",
        "import msgspec",
        "import msgspec.json",
        "from msgspec import structs",
        "from returns.result import Failure, Result, Success",
        "from returns.pipeline import is_successful",
        "from returns import maybe, pointfree",
        "from ccg.core._token import OAuthToken",
        "from ccg.core import _token",
        "from . import _token",
        "from ._token import OAuthToken",
    ],
)
def test_the_checker_accepts_allowed_imports(source: str) -> None:
    assert forbidden_imports(source) == []


def test_the_checker_reports_line_and_module() -> None:
    source = "import math\nfrom returns.result import Result\nimport time\n"
    assert forbidden_imports(source) == ["3: time"]
