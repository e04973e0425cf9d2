"""The public surface: every public name exported, nothing private leaking, `py.typed` shipped."""

from __future__ import annotations

import importlib
import pathlib
from types import ModuleType

import pytest

import ccg

PUBLIC_MODULES = ["ccg", "ccg.core", "ccg.interp", "ccg.testing"]


def _public_names(module: ModuleType) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") or name == "__version__"
        if not isinstance(value, ModuleType)
        if name not in {"annotations"}
    )


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    assert sorted(module.__all__) == _public_names(module)
    assert list(module.__all__) == sorted(module.__all__, key=lambda n: (n != n.upper(), n))
    for exported in module.__all__:
        assert getattr(module, exported) is not None


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
