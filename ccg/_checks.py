"""Checks of user-given options: each returns the checked value or raises
`ConfigurationError` naming the option. Shared by the façade and the shell, so that
an option means the same wherever it is given. Secrets are never echoed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Final, cast

from ccg._errors import ConfigurationError
from ccg.core import DEFAULT_CLOCK_SKEW, MAX_LIFETIME, Limits, ResiliencePolicy

__all__ = [
    "RESERVED_PARAMS",
    "checked_callable",
    "checked_clock_skew",
    "checked_flag",
    "checked_limits",
    "checked_params",
    "checked_resilience",
    "checked_scopes",
    "checked_text",
    "checked_with_methods",
]

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
RESERVED_PARAMS: Final = frozenset(
    {
        "grant_type",
        "scope",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
    }
)
"""Token request parameters ccg sets itself; extra parameters may not name them."""


def checked_text(field: str, value: object) -> str:
    """A non-empty str that can be sent (valid Unicode)."""
    if not isinstance(value, str):
        raise ConfigurationError(field, f"expected a str, got {type(value).__name__}")
    if not value:
        raise ConfigurationError(field, "must not be empty")
    return _encodable(field, value)


def _encodable(field: str, value: str) -> str:
    """`value` if it encodes as UTF-8: a lone surrogate (what `os.environ` holds for a byte
    that is not UTF-8, PEP 383) could never be sent. The value is never quoted."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(
            field,
            f"is not valid Unicode (a lone surrogate at position {exc.start}: bytes "
            "that were not UTF-8?)",
        ) from None
    return value


def _scope(value: object) -> str:
    if isinstance(value, Enum) and not isinstance(value, str):
        value = value.value
    if not isinstance(value, str):
        raise ConfigurationError(
            "o_auth_scopes", f"each scope must be a str or str Enum, got {type(value).__name__}"
        )
    if not _SCOPE_TOKEN.fullmatch(value):
        raise ConfigurationError(
            "o_auth_scopes",
            f"{value!r} is not a scope token (RFC 6749 §3.3: no spaces, quotes or backslashes)",
        )
    return str(value)


def checked_scopes(value: object) -> tuple[str, ...]:
    """Scopes from a list of str or str-valued Enums (None: none)."""
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigurationError(
            "o_auth_scopes", f"expected a list of scopes, got {type(value).__name__}"
        )
    # Iterable of anything (user input): each element is checked by _scope.
    return tuple(_scope(v) for v in cast("Iterable[object]", value))


def _seconds(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(
            field, f"expected seconds as an int or float, got {type(value).__name__}"
        )
    try:
        seconds = float(value)
    except OverflowError:
        raise ConfigurationError(field, "is too large to be a number of seconds") from None
    if not math.isfinite(seconds):
        raise ConfigurationError(field, f"must be finite, got {value}")
    return seconds


def checked_clock_skew(value: object) -> float:
    """Seconds >= 0 (None: the default)."""
    if value is None:
        return DEFAULT_CLOCK_SKEW
    seconds = _seconds("o_auth_clock_skew", value)
    if seconds < 0:
        raise ConfigurationError("o_auth_clock_skew", f"must be >= 0, got {value}")
    return seconds


def checked_limits(field: str, value: object) -> Limits:
    """A `Limits` with positive finite timeouts and a positive body limit."""
    if not isinstance(value, Limits):
        raise ConfigurationError(field, f"expected ccg.Limits, got {type(value).__name__}")
    for name in ("connect_timeout", "read_timeout", "total_timeout"):
        if _seconds(f"{field}.{name}", getattr(value, name)) <= 0:
            raise ConfigurationError(f"{field}.{name}", "must be > 0")
    size: object = getattr(value, "max_body_bytes")  # noqa: B009 - read untyped, not narrowed
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise ConfigurationError(f"{field}.max_body_bytes", "must be a positive int or None")
    return value


def checked_params(field: str, value: object) -> tuple[tuple[str, str], ...]:
    """Extra form parameters from `{name: str or [str, ...]}` (None: none), in order."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigurationError(field, f"expected a mapping, got {type(value).__name__}")
    pairs: list[tuple[str, str]] = []
    # A mapping of anything (user input): each name and value is checked below.
    for name, values in cast("Mapping[object, object]", value).items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError(field, "names must be non-empty str")
        _encodable(field, name)
        if name in RESERVED_PARAMS:
            raise ConfigurationError(field, f"{name!r} is set by ccg and cannot be overridden")
        pairs.extend((name, v) for v in _param_values(field, name, values))
    return tuple(pairs)


def _param_values(field: str, name: str, values: object) -> list[str]:
    """The values of extra parameter `name`: a str, or a sequence of str."""
    if isinstance(values, str):
        return [_encodable(field, values)]
    if isinstance(values, Sequence):
        listed = cast("Sequence[object]", values)  # of anything: kept only if all are str
        texts = [_encodable(field, v) for v in listed if isinstance(v, str)]
        if len(texts) == len(listed):
            return texts
    raise ConfigurationError(field, f"{name!r} must be a str or a list of str")


def checked_callable(field: str, value: object) -> None:
    """None or a callable."""
    if value is not None and not callable(value):
        raise ConfigurationError(field, f"expected a callable, got {type(value).__name__}")


def checked_flag(field: str, value: object) -> bool:
    """A real bool: a truthy string such as "false" must not switch anything on."""
    if not isinstance(value, bool):
        raise ConfigurationError(field, f"expected True or False, got {type(value).__name__}")
    return value


def checked_with_methods(field: str, value: object, methods: Sequence[str], hint: str) -> None:
    """An object with the callable attributes `methods` (a port: transport, clock, ...)."""
    missing = [m for m in methods if not callable(getattr(value, m, None))]
    if missing:
        raise ConfigurationError(
            field, f"{type(value).__name__} has no {', '.join(missing)}() method; {hint}"
        )


def _count(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(field, f"must be a whole number >= 1, got {value!r}")
    return value


def checked_resilience(field: str, value: object) -> ResiliencePolicy:
    """A `ResiliencePolicy` whose numbers make sense together (all finite, none negative)."""
    if not isinstance(value, ResiliencePolicy):
        raise ConfigurationError(
            field, f"expected ccg.ResiliencePolicy, got {type(value).__name__}"
        )
    ratio = _seconds(f"{field}.refresh_ratio", value.refresh_ratio)
    if not 0 <= ratio < 1:
        raise ConfigurationError(f"{field}.refresh_ratio", f"must be in [0, 1), got {ratio}")
    for name in ("call_timeout", "backoff_base", "backoff_cap"):
        if _seconds(f"{field}.{name}", getattr(value, name)) <= 0:
            raise ConfigurationError(f"{field}.{name}", "must be > 0")
    for name in ("retry_after_cap", "cool_down", "breaker_open_for"):
        if _seconds(f"{field}.{name}", getattr(value, name)) < 0:
            raise ConfigurationError(f"{field}.{name}", "must be >= 0")
    if value.backoff_cap < value.backoff_base:
        raise ConfigurationError(f"{field}.backoff_cap", "must be >= backoff_base")
    default: object = value.default_lifetime
    if default is not None:
        seconds = _seconds(f"{field}.default_lifetime", default)
        if not 0 < seconds <= MAX_LIFETIME:
            raise ConfigurationError(
                f"{field}.default_lifetime", f"must be in (0, {MAX_LIFETIME}] or None"
            )
    _count(f"{field}.max_attempts", value.max_attempts)
    _count(f"{field}.breaker_threshold", value.breaker_threshold)
    return value
