"""The lifetime a JWT access token states about itself, for replies without `expires_in`.

Read, never verified: ccg is not the token's audience and does not trust its content,
it only learns when to renew. `exp - iat` is preferred, the lifetime on the server's
own clock (a client clock that is off changes nothing); without `iat`, `exp` is
compared with the wall clock at hand. Anything that is not a JWT with a numeric `exp`
says nothing.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

import msgspec

__all__ = ["jwt_lifetime"]

_LONGEST_PAYLOAD: Final = 64 * 1024
"""Characters of a payload segment worth decoding: a token's claims are small."""


class _Claims(msgspec.Struct, gc=False):
    exp: float | None = None
    iat: float | None = None


_CLAIMS: Final = msgspec.json.Decoder(_Claims)


def jwt_lifetime(access_token: str, wall: float) -> float | None:
    """Seconds `access_token` lives by its own claims (at or below 0: expired), or None
    when it is not a JWT with a numeric `exp`."""
    if access_token.count(".") != 2:
        return None
    payload = access_token.split(".")[1]
    if not payload or len(payload) > _LONGEST_PAYLOAD:
        return None
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = _CLAIMS.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError, RecursionError):
        return None
    # JSON has no NaN or infinity, and msgspec refuses numbers out of a float's range.
    exp, iat = claims.exp, claims.iat
    if exp is None:
        return None
    if iat is not None and iat <= exp:
        return exp - iat
    return exp - wall
