"""The public surface: every public name exported, nothing private leaking, `py.typed` shipped."""

from __future__ import annotations

import importlib
import pathlib
import re
from types import ModuleType

import pytest

import ccg

FACADES = ["ccg", "ccg.core", "ccg.interp", "ccg.testing", "ccg.aio"]
"""Modules made of re-exports: `__all__` is exactly their public names."""


def _public_names(module: ModuleType) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") or name == "__version__"
        if not isinstance(value, ModuleType)
        if name not in {"annotations"}
    )


@pytest.mark.parametrize("name", FACADES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    assert sorted(module.__all__) == _public_names(module)
    assert list(module.__all__) == sorted(module.__all__, key=lambda n: (n != n.upper(), n))
    for exported in module.__all__:
        assert getattr(module, exported) is not None


def test_strategies_export_everything_they_define() -> None:
    module = importlib.import_module("ccg.testing.strategies")
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (getattr(value, "__module__", None) == module.__name__ or name.isupper())
    }
    assert sorted(module.__all__) == sorted(defined)


def test_the_seed_names_are_importable_from_the_top_level() -> None:
    for name in (
        "ClientCredentialsAuthCredentials",
        "OAuthToken",
        "OAuthScopeEnum",
        "OAuth2",
        "OAuthProviderException",
        "OAuthProviderError",
    ):
        assert name in ccg.__all__
    assert ccg.OAuth2 is ccg.ClientCredentialsAuthManager


def test_package_ships_py_typed() -> None:
    assert (pathlib.Path(ccg.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize(
    "name", ["ccg.metrics", "ccg.adapters.requests", "ccg.adapters.httpx", "ccg.adapters"]
)
def test_modules_export_everything_they_define(name: str) -> None:
    module = importlib.import_module(name)
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    }
    assert sorted(module.__all__) == sorted(defined)


def test_the_readme_lists_exactly_the_public_names() -> None:
    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    listed: dict[str, list[str]] = {}
    for line in readme.splitlines():
        match = re.fullmatch(r"- `(ccg[\w.]*)`: (.*)", line)
        if match:
            listed[match[1]] = re.findall(r"`([^`]+)`", match[2])
    assert set(listed) == {
        *FACADES,
        "ccg.testing.strategies",
        "ccg.metrics",
        "ccg.adapters.requests",
        "ccg.adapters.httpx",
    }
    for name, names in listed.items():
        assert names == list(importlib.import_module(name).__all__), name
