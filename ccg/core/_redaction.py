"""Secrets kept out of the failures the machine records.

Whatever comes from outside into a failure's text (a token endpoint's error page or
`error_description`, its headers, a transport's or a callback's account of what went
wrong) may repeat the request: a server that echoes the form puts `client_secret=`
in its 400 page, one that echoes headers puts the Basic value in its own. Every such
text is scrubbed of each form the secret travelled in (raw, percent- and
form-encoded, JSON- and repr-escaped, inside the Basic value's base64) and of any
`client_secret` field's value, before the failure is recorded, logged or raised.
"""

from __future__ import annotations

import base64
import enum
import html
import json
import re
from typing import Final, cast
from urllib.parse import quote, quote_plus

import msgspec

from ccg.core._failures import TokenFailure
from ccg.core._http import Headers

__all__ = ["REDACTED", "scrubbed", "scrubbed_text", "secret_forms"]

REDACTED: Final = "<redacted>"
_SHORTEST: Final = 4
"""Shorter forms are not scrubbed: replacing every `ab` in a message would garble it,
and a secret that short is no secret."""
_FIELD: Final = re.compile(
    r"""(client_secret(?:%22|["'])?\s*(?:=|:|%3A|%3D)\s*(?:%22|["'])?)(?!<redacted>)[^&"'\s<>,;}\]]*""",
    re.IGNORECASE,
)


def secret_forms(client_id: str, client_secret: str) -> tuple[str, ...]:
    """Every form in which `client_secret` may come back, longest first."""
    ascii_json = json.dumps(client_secret)[1:-1]  # non-ASCII as \\uXXXX
    forms = {
        client_secret,
        quote(client_secret, safe=""),
        quote(client_secret),
        quote_plus(client_secret, safe=""),
        repr(client_secret)[1:-1],
        msgspec.json.encode(client_secret).decode()[1:-1],
        ascii_json,
        # Go's encoding/json also escapes <, > and & (as \\u003c, \\u003e, \\u0026).
        ascii_json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"),
        html.escape(client_secret, quote=False),
        html.escape(client_secret),
    }
    for user, password in (
        (client_id, client_secret),
        (quote(client_id, safe=""), quote(client_secret, safe="")),
    ):
        basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        forms.update((basic, quote(basic, safe=""), basic.rstrip("=")))
    return tuple(sorted((f for f in forms if len(f) >= _SHORTEST), key=len, reverse=True))


def scrubbed_text(text: str, forms: tuple[str, ...]) -> str:
    """`text` with every form of the secret and every `client_secret` value redacted."""
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    if "secret" in text.lower():
        text = _FIELD.sub(rf"\g<1>{REDACTED}", text)
    return text


def scrubbed(failure: TokenFailure, forms: tuple[str, ...]) -> TokenFailure:
    """`failure` with all its texts and header values scrubbed (itself if none changed)."""
    changes: dict[str, object] = {}
    for field in msgspec.structs.fields(failure):
        value = getattr(failure, field.name)
        if isinstance(value, str) and not isinstance(value, enum.Enum):
            clean = scrubbed_text(value, forms)
            if clean != value:
                changes[field.name] = clean
        elif field.name == "headers":
            pairs = cast("Headers", value)
            headers = tuple((name, scrubbed_text(text, forms)) for name, text in pairs)
            if headers != value:
                changes[field.name] = headers
    return msgspec.structs.replace(failure, **changes) if changes else failure
