"""The layers stay layers.

- `ccg.core` is a functional core: its modules import only from an allow-list. No
  clock, randomness, logging, OS, sockets, threads, HTTP client, `returns.io`, or the
  shell (`ccg.interp`, `ccg._*`).
- `ccg.interp` (the shell) never imports the façade (`ccg` itself, `ccg._client`,
  `ccg._credentials`, `ccg._scopes`, the demo) nor the test kit.
- The fakes live in `ccg.testing` alone; the seed's `OAuthScopeEnum` lives in the façade.

Each file is parsed with `ast`, so imports inside functions, `if TYPE_CHECKING:`
blocks and `__import__(...)` calls are all seen, and nothing under test is executed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

CCG: Final = Path(__file__).parent.parent / "ccg"
CORE: Final = CCG / "core"
CORE_PACKAGE: Final = "ccg.core"

ALLOWED_MODULES: Final = frozenset(
    {
        "__future__",
        "typing",
        "collections.abc",
        "enum",
        "functools",  # cached_property: Policy keeps the token request it built
        "math",
        "base64",
        "binascii",  # base64's error type
        "html",  # html.escape: a form the secret is scrubbed in
        "json",  # json.dumps: the ASCII-escaped form of the secret, scrubbed too
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


SHELL_FILES: Final = sorted((CCG / "interp").glob("*.py"))
FACADE_AND_KIT: Final = (
    "ccg._client",
    "ccg._credentials",
    "ccg._scopes",
    "ccg._demo",
    "ccg.testing",
)


SHELL_MAY_IMPORT: Final = frozenset(
    {"ccg.core", "ccg.interp", "ccg._errors", "ccg._checks", "ccg._urls"}
)
"""The top-level `ccg.X` the shell may name (the rest of `ccg.X` are the façade's)."""


def _reaches_the_facade(module: str) -> bool:
    if module in ("ccg", "ccg.__init__"):
        return True
    if any(module == name or module.startswith(name + ".") for name in FACADE_AND_KIT):
        return True
    # `from ccg import X` names ccg.X: a façade re-export unless X is a module we allow.
    return module.startswith("ccg.") and module.count(".") == 1 and module not in SHELL_MAY_IMPORT


def shell_imports_of_the_facade(source: str, package: str = "ccg.interp") -> list[str]:
    """`line: module` for each import of `source` that reaches the façade or the test kit."""
    return [
        f"{line}: {m}" for line, m in imported_modules(source, package) if _reaches_the_facade(m)
    ]


def test_shell_files_are_found() -> None:
    assert {"_manager.py", "_driver.py", "_cell.py", "_urllib3.py"} <= {p.name for p in SHELL_FILES}


@pytest.mark.parametrize("path", SHELL_FILES, ids=[p.name for p in SHELL_FILES])
def test_the_shell_never_imports_the_facade(path: Path) -> None:
    assert shell_imports_of_the_facade(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import ccg",
        "from ccg import ApiClient",
        "from ccg._client import ApiClient",
        "from .._credentials import ClientCredentialsAuthCredentials",
        "import ccg._scopes",
        "from ccg.testing import FakeTransport",
        "from ccg.testing._fakes import FakeClock",
        "from ccg._demo import walkthrough",
    ],
)
def test_the_shell_checker_rejects_the_facade(source: str) -> None:
    assert shell_imports_of_the_facade(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "from ccg.core import step",
        "from ccg._errors import exception_for",
        "from ccg._checks import checked_params",
        "from ccg.interp._cell import TokenCell",
        "from ._clock import Clock",
        "import urllib3",
    ],
)
def test_the_shell_checker_accepts_the_core_and_the_shell(source: str) -> None:
    assert shell_imports_of_the_facade(source) == []


def test_the_fakes_have_one_public_home() -> None:
    import ccg.core  # noqa: PLC0415 - the test is about what each package exports
    import ccg.interp  # noqa: PLC0415
    import ccg.testing  # noqa: PLC0415

    for name in ("FakeTransport", "FakeClock"):
        assert name in ccg.testing.__all__
        assert not hasattr(ccg.interp, name)
        assert not hasattr(ccg.core, name)
    assert not hasattr(ccg.core, "OAuthScopeEnum")


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
