"""The origins an adapter sends its bearer to, and what a reply says about the token."""

from __future__ import annotations

from collections.abc import Iterable

from ccg._checks import checked_flag
from ccg._errors import ConfigurationError
from ccg._origins import Origins
from ccg.core import Headers, HttpReply

__all__ = ["adapter_origins", "reply_of"]


def reply_of(status: int, headers: Headers, body: bytes = b"") -> HttpReply:
    """An `HttpReply` with `status` and `headers` (and the body of a 403), for
    `rejection` and `insufficient_scope` to read."""
    return HttpReply(status=status, headers=headers, body=body)


def adapter_origins(origins: Iterable[str], allow_insecure_http: object) -> Origins:
    """The adapter's `origins`, checked: at least one, each an http(s) origin."""
    allowed = Origins(origins, checked_flag("allow_insecure_http", allow_insecure_http))
    if not allowed:
        raise ConfigurationError("origins", "name at least one origin to send the token to")
    return allowed
