"""A redaction scan: capture everything a run of ccg says, then look for secrets in it.

`Capture` puts the root logger and every logger that exists (urllib3's, httpx's,
ccg's, ...) at DEBUG with a handler that keeps each record fully formatted (message,
arguments, traceback), records every warning (`simplefilter("always")`), and keeps
the texts of whatever the test hands it: exceptions (`str`, `repr`, the whole
`traceback.format_exception` with chained causes and contexts, and `str`/`repr` of
each attribute of every exception in the chain), public objects (`repr`, `str`, what
`__rich_repr__` shows) and the events an `on_event` hook receives.

`Forbidden` knows what must never show: a client secret in every form it takes on the
wire (raw, form-urlencoded, percent-encoded, escaped for JSON, HTML or `repr`), the
HTTP Basic header for it (form-encoded and raw, the whole value and its base64 part),
and every access token seen. It matches any run of `WINDOW` characters of any of them
that holds at least `_SECRET_CHARS` characters of the secret itself (a Basic value's
base64 starts with the client id, which is no secret), so a secret cut short by a
truncated snippet is still found. Runs of fewer than `_DISTINCT` different characters are
not looked for (a token of spaces would match every indented traceback).

`assert_clean` fails first if the capture is too thin to mean anything (fewer records
than asked, no record from a logger that must have spoken), then raises `SecretLeak`
listing every hit and where it was found.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import threading
import traceback
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self, cast
from urllib.parse import quote, quote_plus

from returns.result import Result, Success

from ccg import HttpReply, HttpRequest, Transport, TransportFailure
from ccg.aio import AsyncTransport

__all__ = [
    "SERVER_SIDE_LOGGERS",
    "WINDOW",
    "AsyncHarvestingTransport",
    "Capture",
    "Forbidden",
    "HarvestingTransport",
    "Hit",
    "SecretLeak",
    "assert_clean",
    "secret_forms",
]

WINDOW: Final = 12
"""Characters of a forbidden string that count as a leak when they show up in a row."""
_SECRET_CHARS: Final = 4
"""A window must hold this many characters of the secret (or token) itself: 4 base64
characters carry 3 bytes of it."""
_DISTINCT: Final = 5
"""A window with fewer different characters (a run of spaces, `AAAA...`) is not looked
for: it would be found in any indented traceback."""

SERVER_SIDE_LOGGERS: Final = ("authlib", "werkzeug", "flask")
"""Loggers of the test's own authorization server (in this process): their records are
captured but not ccg's, so they are not scanned."""

_EXCERPT: Final = 40


class SecretLeak(AssertionError):
    """A forbidden string showed up in what ccg said."""


@dataclass(frozen=True)
class Hit:
    """One forbidden string found in one captured text."""

    where: str
    form: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: {self.form} in {self.excerpt!r}"


def _hex_lower(encoded: str) -> str:
    """`encoded` with its percent-escapes in lower-case hex (`%2F` -> `%2f`)."""
    parts = encoded.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


def _basic(user: str, password: str) -> tuple[str, int]:
    """The base64 of `user:password`, and where the characters that encode the password
    begin (each 4 characters encode 3 bytes: the group holding the first byte of it)."""
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return encoded, len(f"{user}:".encode()) // 3 * 4


def secret_forms(client_id: str, secret: str) -> dict[str, tuple[str, int]]:
    """Every form of `secret` that must never show, by name: the text, and where in it the
    secret begins (the Basic forms start with the client id, which is no secret).
    Duplicates are dropped."""
    forms = {
        "secret (raw)": (secret, 0),
        "secret (form-urlencoded)": (quote_plus(secret, safe=""), 0),
        "secret (percent-encoded)": (quote(secret, safe=""), 0),
        "secret (urllib quote)": (quote(secret), 0),
        "secret (form-urlencoded, lower-case hex)": (_hex_lower(quote_plus(secret, safe="")), 0),
        "secret (percent-encoded, lower-case hex)": (_hex_lower(quote(secret, safe="")), 0),
        "secret (JSON string)": (json.dumps(secret)[1:-1], 0),
        "secret (JSON string, non-ASCII as is)": (json.dumps(secret, ensure_ascii=False)[1:-1], 0),
        "secret (HTML-escaped)": (html.escape(secret), 0),
        "secret (repr)": (repr(secret)[1:-1], 0),
        "secret (base64)": (base64.b64encode(secret.encode()).decode("ascii"), 0),
    }
    for variant, (user, password) in {
        "form-encoded": (quote(client_id, safe=""), quote(secret, safe="")),
        "form-encoded, space as +": (quote_plus(client_id, safe=""), quote_plus(secret, safe="")),
        "raw": (client_id, secret),
    }.items():
        encoded, start = _basic(user, password)
        forms[f"Basic base64 part ({variant})"] = (encoded, start)
        forms[f"Basic header value ({variant})"] = ("Basic " + encoded, len("Basic ") + start)
    unique: dict[str, tuple[str, int]] = {}
    for name, (value, start) in forms.items():
        if value and value not in (v for v, _ in unique.values()):
            unique[name] = (value, start)
    return unique


class Forbidden:
    """What must never show, and the scan for it (thread-safe: tokens arrive from servers)."""

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}
        self._windows: dict[str, str] = {}

    def add(self, name: str, value: str, secret_start: int = 0) -> bool:
        """Forbid `value`: each `window` characters of it that hold at least
        `_SECRET_CHARS` characters from `secret_start` on. False if it is too short to
        scan without false alarms, and so was not added."""
        if len(value) < self.window:
            return False
        with self._lock:
            if value in self._values.values():
                return True
            self._values[name] = value
            first = max(0, secret_start + _SECRET_CHARS - self.window)
            for start in range(first, len(value) - self.window + 1):
                window = value[start : start + self.window]
                if len(set(window)) >= _DISTINCT:
                    self._windows.setdefault(window, name)
        return True

    def add_credentials(self, client_id: str, secret: str) -> None:
        """Forbid every form of `secret` (see `secret_forms`)."""
        for name, (value, start) in secret_forms(client_id, secret).items():
            self.add(f"{name} of {secret[:3]}...", value, start)

    def add_token(self, token: str) -> bool:
        """Forbid an access (or refresh) token; False if too short to scan."""
        return self.add(f"token {token[:4]}...", token)

    @property
    def values(self) -> dict[str, str]:
        with self._lock:
            return dict(self._values)

    def tokens(self) -> list[str]:
        """The tokens forbidden so far."""
        with self._lock:
            return [v for k, v in self._values.items() if k.startswith("token ")]

    def hits(self, where: str, text: str) -> list[Hit]:
        """Each forbidden string found in `text`, once per form, with a bit of context."""
        with self._lock:
            windows = dict(self._windows)
        found: dict[str, Hit] = {}
        size = self.window
        for start in range(len(text) - size + 1):
            name = windows.get(text[start : start + size])
            if name is not None and name not in found:
                excerpt = text[max(0, start - _EXCERPT) : start + size + _EXCERPT]
                found[name] = Hit(where=where, form=name, excerpt=excerpt)
        return list(found.values())


def _rich(value: object) -> str | None:
    rich = getattr(value, "__rich_repr__", None)
    if not callable(rich):
        return None
    try:
        shown: object = rich()
        if isinstance(shown, Iterable):
            return repr(list(cast("Iterable[object]", shown)))
        return repr(shown)
    except Exception as exc:  # a broken __rich_repr__ is a finding of its own, not a crash
        return f"<__rich_repr__ raised {exc!r}>"


def _renderings(value: object) -> list[tuple[str, str]]:
    """`repr`, `str` and the rich repr of `value`."""
    shown = [("repr", repr(value)), ("str", str(value))]
    rich = _rich(value)
    if rich is not None:
        shown.append(("rich", rich))
    return shown


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the members of exception groups, once each."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            group = cast("BaseExceptionGroup[BaseException]", current)
            stack.extend(group.exceptions)


class _Collector(logging.Handler):
    """Keeps every record it is handed, fully formatted."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s [%(threadName)s] %(message)s"))
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)  # the message with its args, exc_info and stack_info
        except Exception as exc:
            text = f"<record not formattable: {exc!r}>"
        text += f"\nmsg={record.msg!r}\nargs={record.args!r}"
        self.records.append((record.name, text))


@dataclass
class _Saved:
    logger: logging.Logger
    level: int
    disabled: bool


class Capture:
    """Everything said during a run: log records, warnings, and what the test hands it."""

    def __init__(self) -> None:
        self._collector = _Collector()
        self._lock = threading.Lock()
        self._texts: list[tuple[str, str]] = []
        self._events: list[object] = []
        self._exceptions: list[BaseException] = []
        self._saved: list[_Saved] = []
        self._extra_handled: list[logging.Logger] = []
        self._disable = logging.NOTSET
        self._warnings_cm: warnings.catch_warnings[list[warnings.WarningMessage]] | None = None
        self._warned: list[warnings.WarningMessage] = []

    # -- lifecycle ------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._warnings_cm = warnings.catch_warnings(record=True)
        self._warned = self._warnings_cm.__enter__()
        warnings.simplefilter("always")
        self._disable = logging.root.manager.disable
        logging.disable(logging.NOTSET)
        loggers = [logging.root] + [
            logger
            for logger in list(logging.root.manager.loggerDict.values())
            if isinstance(logger, logging.Logger)
        ]
        for logger in loggers:
            self._saved.append(_Saved(logger, logger.level, logger.disabled))
            logger.setLevel(logging.DEBUG)
            logger.disabled = False
            if logger is not logging.root and not logger.propagate:
                logger.addHandler(self._collector)
                self._extra_handled.append(logger)
        logging.root.addHandler(self._collector)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        logging.root.removeHandler(self._collector)
        for logger in self._extra_handled:
            logger.removeHandler(self._collector)
        for saved in reversed(self._saved):
            saved.logger.setLevel(saved.level)
            saved.logger.disabled = saved.disabled
        logging.disable(self._disable)
        if self._warnings_cm is not None:
            self._warnings_cm.__exit__(exc_type, exc, tb)

    # -- what the test hands over ---------------------------------------------------

    def _keep(self, where: str, text: str) -> None:
        with self._lock:
            self._texts.append((where, text))

    def observe(self, label: str, value: object) -> None:
        """Keep `repr`, `str` (and the rich repr) of a public object, as it is now."""
        for how, text in _renderings(value):
            self._keep(f"object {label} ({type(value).__name__}): {how}", text)

    def exception(self, label: str, exc: BaseException) -> None:
        """Keep everything an exception shows: see the module docstring."""
        with self._lock:
            self._exceptions.append(exc)
        self._keep(f"exception {label}: traceback", "".join(traceback.format_exception(exc)))
        for number, link in enumerate(_chain(exc)):
            name = f"exception {label} [chain {number}: {type(link).__name__}]"
            for how, text in _renderings(link):
                self._keep(f"{name}: {how}", text)
            self._keep(f"{name}: args", repr(link.args))
            for note in getattr(link, "__notes__", ()):
                self._keep(f"{name}: note", str(note))
            for attribute, value in vars(link).items():
                for how, text in _renderings(value):
                    self._keep(f"{name}.{attribute}: {how}", text)

    def on_event(self, event: object) -> None:
        """An `on_event` hook: keeps each event and its texts."""
        with self._lock:
            self._events.append(event)
            number = len(self._events)
        self.observe(f"event #{number}", event)

    # -- what was captured ----------------------------------------------------------

    @property
    def events(self) -> list[object]:
        with self._lock:
            return list(self._events)

    @property
    def exceptions(self) -> list[BaseException]:
        with self._lock:
            return list(self._exceptions)

    def records(self, prefix: str = "") -> list[tuple[str, str]]:
        """(logger name, text) of the records from loggers named `prefix` or under it."""
        return [
            (name, text)
            for name, text in list(self._collector.records)
            if not prefix or name == prefix or name.startswith(prefix + ".")
        ]

    def texts(self) -> list[tuple[str, str]]:
        """(where, text) of everything to scan: records (but the server's), warnings, the rest."""
        texts = [
            (f"log record #{number} of {name!r}", text)
            for number, (name, text) in enumerate(self.records(), 1)
            if not any(name == s or name.startswith(s + ".") for s in SERVER_SIDE_LOGGERS)
        ]
        for number, warned in enumerate(list(self._warned), 1):
            texts.append(
                (
                    f"warning #{number} ({warned.category.__name__})",
                    f"{warned.message!s} {warned.message!r} at {warned.filename}:{warned.lineno}",
                )
            )
        with self._lock:
            texts.extend(self._texts)
        return texts

    @property
    def warnings(self) -> list[warnings.WarningMessage]:
        return list(self._warned)


def assert_clean(
    capture: Capture,
    forbidden: Forbidden,
    *,
    extra: Sequence[tuple[str, str]] = (),
    min_records: int = 1,
    loggers: Sequence[str] = ("ccg", "urllib3"),
    min_tokens: int = 0,
) -> None:
    """No forbidden string in anything captured (nor in `extra`, e.g. captured output).

    Fails with a plain AssertionError when the capture could not have found a leak
    (too few records, a logger in `loggers` silent, fewer forbidden tokens than
    `min_tokens`), and with `SecretLeak`, listing every hit, when something leaked.
    """
    records = capture.records()
    assert len(records) >= min_records, (
        f"only {len(records)} log records captured, expected >= {min_records}: "
        f"{[name for name, _ in records]}"
    )
    for logger in loggers:
        assert capture.records(logger), f"no record from logger {logger!r} was captured"
    assert len(forbidden.tokens()) >= min_tokens, (
        f"{len(forbidden.tokens())} tokens forbidden, expected >= {min_tokens}"
    )
    assert forbidden.values, "nothing is forbidden: the scan would pass vacuously"
    hits = [
        hit for where, text in [*capture.texts(), *extra] for hit in forbidden.hits(where, text)
    ]
    if hits:
        listing = "\n".join(f"  - {hit}" for hit in hits)
        raise SecretLeak(f"{len(hits)} secret(s) found in what ccg said:\n{listing}")


# -- transports that learn every token they carry ------------------------------------------


def _harvest(forbidden: Forbidden, reply: HttpReply) -> None:
    """Forbid the access and refresh token of a token response, if `reply` is one."""
    try:
        body: object = json.loads(reply.body)
    except (ValueError, RecursionError):
        return
    if isinstance(body, dict):
        fields = cast("dict[str, object]", body)
        for field in ("access_token", "refresh_token"):
            value = fields.get(field)
            if isinstance(value, str):
                forbidden.add_token(value)


class HarvestingTransport:
    """A `Transport` over a real one that forbids every token in the replies it carries
    (so tokens the test never sees, such as a 401'd one, are scanned for too), and keeps
    the requests it sent."""

    def __init__(self, inner: Transport, forbidden: Forbidden) -> None:
        self._inner = inner
        self._forbidden = forbidden
        self._lock = threading.Lock()
        self._sent: list[HttpRequest] = []

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        with self._lock:
            self._sent.append(request)
        result = self._inner.send(request)
        if isinstance(result, Success):
            _harvest(self._forbidden, result.unwrap())
        return result

    @property
    def requests(self) -> list[HttpRequest]:
        with self._lock:
            return list(self._sent)


class AsyncHarvestingTransport:
    """`HarvestingTransport` for asyncio."""

    def __init__(self, inner: AsyncTransport, forbidden: Forbidden) -> None:
        self._inner = inner
        self._forbidden = forbidden
        self._sent: list[HttpRequest] = []

    async def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        self._sent.append(request)
        result = await self._inner.send(request)
        if isinstance(result, Success):
            _harvest(self._forbidden, result.unwrap())
        return result

    @property
    def requests(self) -> list[HttpRequest]:
        return list(self._sent)
