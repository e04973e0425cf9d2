"""`OAuthScopeEnum`: the seed SDK's scopes. Any `str` (or str-valued Enum) is a scope too."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OAuthScopeEnum"]


class OAuthScopeEnum(StrEnum):
    """The scopes of the seed SDK's API."""

    READ_SCOPE = "read"
    """Read scope."""
    WRITE_SCOPE = "write"
    """Write scope."""
