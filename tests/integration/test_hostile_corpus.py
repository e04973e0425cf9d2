"""The hostile token-response corpus, served on 127.0.0.1 and fetched through the real transport.

Each file in tests/corpus/token_responses/ is one reply a token endpoint might send
(the format is in tests/corpus/README.md). A raw-socket `HostileServer` serves it,
byte for byte, to an `ApiClient` with a real `Urllib3Transport`, and:

- a hostile reply raises exactly the `CcgError` subclass the file names, its message
  naming the problem (and never the token: hostile token values all carry `LEAK`);
  nothing else escapes, no token is held afterwards and no API request is sent;
- with a valid token cached and in its soft-refresh window, the same reply to the
  background renewal (run inline) leaves that token in use and held;
- an odd reply that ccg accepts on purpose (`expect.accepted`) yields exactly the
  token, type and lifetime the file states, fresh and at renewal;
- the peak memory growth of every fetch is measured with tracemalloc, and of the big
  dynamic cases (bombs, endless and 200 MB bodies) also by the kernel in a fresh
  process; both stay under 10 MiB. Run with `-s` to see the numbers.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Generator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self

import msgspec
import pytest

import ccg
from ccg import (
    TOKEN_REQUEST_LIMITS,
    ApiClient,
    CcgError,
    ClientCredentialsAuthCredentials,
    Limits,
    OAuthToken,
    ResiliencePolicy,
    TokenAcquisitionError,
    Urllib3Transport,
)
from ccg.testing import FakeClock, run_inline
from tests.integration._hostile_server import (
    MIB,
    HostileServer,
    Peer,
    Script,
    Wrapper,
    bomb,
    chunk,
    compressed,
    head,
    reply,
)

pytestmark = pytest.mark.integration

_ROOT: Final = Path(__file__).resolve().parents[2]
_CORPUS: Final = _ROOT / "tests" / "corpus" / "token_responses"
_TOKEN_PATH: Final = "/oauth/token"
_WARM_PATH: Final = "/warm/oauth/token"
_API_PATH: Final = "/api/orders"
_MARKER: Final = "LEAK"
"""Every hostile access_token value carries it; no error message may."""
_MEMORY_BOUND_KIB: Final = 10 * 1024
_MIN_HOSTILE_CASES: Final = 80
_CACHED: Final = "cached-token-still-good"

_REQUIRED_CATEGORIES: Final = frozenset(
    {
        "not-json",
        "html",
        "empty-body",
        "json-not-object",
        "access-token-missing",
        "access-token-empty",
        "access-token-not-string",
        "access-token-crlf",
        "access-token-folding",
        "access-token-space",
        "access-token-non-ascii",
        "b64token",
        "expires-in-negative",
        "expires-in-zero",
        "expires-in-float",
        "expires-in-huge",
        "expires-in-nan-infinity",
        "expires-in-bool",
        "expires-in-string",
        "token-type-unknown",
        "token-type-missing",
        "error-in-200",
        "http-error-non-json",
        "invalid-utf8",
        "bom",
        "deep-nesting",
        "duplicate-keys",
        "oversize",
        "endless-chunked",
        "gzip-bomb",
        "deflate-bomb",
        "drip",
        "reset",
        "wrong-content-type",
    }
)
_ACCEPTED_ONLY_CATEGORIES: Final = frozenset({"expires-in-zero"})
"""Categories whose every reply ccg accepts on purpose (README, Behaviour: Expiry)."""


# -- the corpus format --------------------------------------------------------------------------


class _Segment(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: str
    times: int = 1


class _LimitsOverride(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    connect_timeout: float | None = None
    read_timeout: float | None = None
    total_timeout: float | None = None


class _Expect(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    error: str | None = None
    message: list[str] = []
    accepted: bool = False
    access_token: str | None = None
    token_type: str | None = None
    expires_in: int | None = None


_Check = Literal["reply", "renewal"]
"""The per-case tests: `reply` (the typed error, no token) and `renewal` (the cached token)."""


class _XFail(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: str
    tests: list[_Check]


class _Case(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    about: str
    category: str
    status: int = 200
    headers: list[tuple[str, str]] | None = None
    framing: Literal["content-length", "chunked", "close"] = "content-length"
    compress: Literal["gzip", "deflate"] | None = None
    json_value: object = msgspec.field(default=msgspec.UNSET, name="json")
    body: str | None = None
    body_base64: str | None = None
    body_repeat: list[_Segment] | None = None
    raw: str | None = None
    script: str | None = None
    limits: _LimitsOverride | None = None
    expect: _Expect
    xfail: _XFail | None = None

    def sources(self) -> list[str]:
        """The body sources the case gives (exactly one is allowed)."""
        given = {
            "json": self.json_value is not msgspec.UNSET,
            "body": self.body is not None,
            "body_base64": self.body_base64 is not None,
            "body_repeat": self.body_repeat is not None,
            "raw": self.raw is not None,
            "script": self.script is not None,
        }
        return [name for name, present in given.items() if present]


def _load(path: Path) -> _Case:
    return msgspec.json.decode(path.read_bytes(), type=_Case)


_FILES: Final = sorted(_CORPUS.glob("*.json"))
_CASES: Final = {path.stem: _load(path) for path in _FILES}


def _params(*, accepted: bool, check: _Check | None = None) -> list[object]:
    """The cases (hostile or accepted) as pytest params; a library bug the case shows in
    `check` is a strict xfail there."""
    params: list[object] = []
    for name, case in _CASES.items():
        if case.expect.accepted != accepted:
            continue
        xfail = case.xfail
        marks = (
            [pytest.mark.xfail(strict=True, reason=xfail.reason)]
            if xfail is not None and check in xfail.tests
            else []
        )
        params.append(pytest.param(name, id=name, marks=marks))
    return params


# -- serving a case -------------------------------------------------------------------------------

_DEFAULT_HEADERS: Final = (("Content-Type", "application/json"),)
_BLOCK: Final = b"x" * (64 * 1024)
_DRIP_EVERY: Final = 0.3
_BOMB_MIB: Final = 4096
_VALID: Final = json.dumps(
    {"access_token": "good-token-0001", "token_type": "Bearer", "expires_in": 3600}
).encode()
_GZIP_VALID: Final = compressed(_VALID, "gzip")
_JSON: Final = ("Content-Type", "application/json")


def _body(case: _Case) -> bytes:
    if case.json_value is not msgspec.UNSET:
        return json.dumps(case.json_value, ensure_ascii=False).encode()
    if case.body is not None:
        return case.body.encode()
    if case.body_base64 is not None:
        return base64.b64decode(case.body_base64, validate=True)
    if case.body_repeat is not None:
        return "".join(segment.text * segment.times for segment in case.body_repeat).encode()
    raise AssertionError(f"no body in {case}")


def _static_script(case: _Case) -> Script:
    """The whole reply, built before it is served (so no allocation is measured for it)."""
    if case.raw is not None:
        pieces = [case.raw.encode()]
    else:
        body = _body(case)
        headers = list(case.headers if case.headers is not None else _DEFAULT_HEADERS)
        if case.compress is not None:
            body = compressed(body, "gzip" if case.compress == "gzip" else "zlib")
            headers.append(("Content-Encoding", case.compress))
        if case.framing == "content-length":
            headers += [("Content-Length", str(len(body))), ("Connection", "close")]
            pieces = [head(case.status, headers), body]
        elif case.framing == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
            step = len(_BLOCK)
            chunks = [chunk(body[i : i + step]) for i in range(0, len(body), step)]
            pieces = [head(case.status, headers), *chunks, chunk(b"")]
        else:  # delimited by the end of the connection
            headers.append(("Connection", "close"))
            pieces = [head(case.status, headers), body]

    def script(peer: Peer) -> None:
        peer.send_all(pieces)

    return script


def _endless(prefix: bytes, piece: bytes) -> Script:
    def script(peer: Peer) -> None:
        if peer.send(prefix):
            peer.send_all(itertools.repeat(piece))

    return script


def _drip(prefix: bytes, dripped: Iterable[bytes]) -> Script:
    """Send `prefix`, then each of `dripped` 0.3 s apart (bounded by the server's budget)."""
    pieces = list(dripped)

    def script(peer: Peer) -> None:
        if not peer.send(prefix):
            return
        for piece in pieces:
            if not peer.pause(_DRIP_EVERY) or not peer.send(piece):
                return

    return script


def _each_byte(data: bytes) -> list[bytes]:
    return [bytes([byte]) for byte in data]


def _bomb(wrapper: Wrapper, coding: str, *, chunked: bool) -> Script:
    def script(peer: Peer) -> None:
        length, pieces = bomb(_BOMB_MIB, wrapper)
        framing = ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(length))
        peer.send(head(200, [_JSON, ("Content-Encoding", coding), framing]))
        peer.send_all((chunk(piece) for piece in pieces if piece) if chunked else pieces)

    return script


def _big(*, declared: bool, size: int = 200_000_000) -> Script:
    def script(peer: Peer) -> None:
        framing = ("Content-Length", str(size)) if declared else ("Connection", "close")
        peer.send(head(200, [_JSON, framing]))
        blocks, rest = divmod(size, len(_BLOCK))
        peer.send_all(itertools.chain(itertools.repeat(_BLOCK, blocks), [_BLOCK[:rest]]))

    return script


def _then_reset(data: bytes) -> Script:
    def script(peer: Peer) -> None:
        if not data or peer.send(data):
            peer.pause(0.1)  # let the client read what was sent before the RST
        peer.reset()

    return script


def _hang(data: bytes) -> Script:
    def script(peer: Peer) -> None:
        if peer.send(data):
            peer.hold()

    return script


_CHUNKED: Final = head(200, [_JSON, ("Transfer-Encoding", "chunked")])
_SCRIPTS: Final[dict[str, Script]] = {
    "endless-chunked": _endless(_CHUNKED, chunk(_BLOCK)),
    "endless-chunked-token": _endless(
        _CHUNKED + chunk(b'{"access_token": "' + _MARKER.encode()), chunk(b"A" * 65536)
    ),
    "gzip-bomb": _bomb("gzip", "gzip", chunked=False),
    "x-gzip-bomb": _bomb("gzip", "x-gzip", chunked=False),
    "gzip-bomb-chunked": _bomb("gzip", "gzip", chunked=True),
    "deflate-bomb": _bomb("zlib", "deflate", chunked=False),
    "raw-deflate-bomb": _bomb("raw", "deflate", chunked=False),
    "raw-deflate-bomb-chunked": _bomb("raw", "deflate", chunked=True),
    "oversize-200mb-declared": _big(declared=True),
    "oversize-200mb-until-close": _big(declared=False),
    "drip-body": _drip(head(200, [_JSON, ("Content-Length", "100")]), [b"x"] * 100),
    "drip-valid-token": _drip(
        head(200, [_JSON, ("Content-Length", str(len(_VALID)))]), _each_byte(_VALID)
    ),
    "drip-status-line": _drip(b"", _each_byte(reply(_VALID, [_JSON]))),
    "drip-headers": _drip(b"HTTP/1.1 200 OK\r\n", [b"X"] * 100),
    "drip-chunk-sizes": _drip(_CHUNKED + chunk(b"{"), [b"0"] * 100),
    "drip-gzip": _drip(
        head(200, [_JSON, ("Content-Encoding", "gzip"), ("Content-Length", str(len(_GZIP_VALID)))]),
        _each_byte(_GZIP_VALID),
    ),
    "hang-after-headers": _hang(head(200, [_JSON, ("Content-Length", "100")])),
    "hang-before-reply": _hang(b""),
    "flood-100-continue": _endless(b"", b"HTTP/1.1 100 Continue\r\n\r\n" * 2048),
    "reset-mid-body": _then_reset(head(200, [_JSON, ("Content-Length", "100000")]) + _BLOCK[:1000]),
    "reset-mid-chunked": _then_reset(_CHUNKED + chunk(_VALID[:10]) + chunk(_VALID[10:20])),
    "reset-mid-gzip": _then_reset(
        head(200, [_JSON, ("Content-Encoding", "gzip"), ("Content-Length", str(len(_GZIP_VALID)))])
        + _GZIP_VALID[: len(_GZIP_VALID) // 2]
    ),
    "reset-after-headers": _then_reset(head(200, [_JSON, ("Content-Length", "100")])),
    "reset-before-reply": _then_reset(b""),
    "close-mid-body": lambda peer: peer.send(
        head(200, [_JSON, ("Content-Length", "5000")]) + _BLOCK[:1000]
    ),
    "close-before-reply": lambda peer: None,
    "gzip-truncated": lambda peer: peer.send(
        reply(_GZIP_VALID[:-4], [_JSON, ("Content-Encoding", "gzip")])
    ),
}
_BIG_SCRIPTS: Final = frozenset(
    {
        "endless-chunked",
        "endless-chunked-token",
        "gzip-bomb",
        "x-gzip-bomb",
        "gzip-bomb-chunked",
        "deflate-bomb",
        "raw-deflate-bomb",
        "raw-deflate-bomb-chunked",
        "oversize-200mb-declared",
        "oversize-200mb-until-close",
    }
)
"""The dynamic cases that would cost the most memory if a read were unbounded."""


def _script(case: _Case) -> Script:
    return _SCRIPTS[case.script] if case.script is not None else _static_script(case)


def _header(request: bytes, name: bytes) -> str | None:
    for line in request.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None


class _Endpoint:
    """A `HostileServer` whose token endpoint serves one case and whose API answers 200.

    `/warm/oauth/token` serves a good token (the memory probe's warm-up). The API
    records the `Authorization` of every request it gets.
    """

    def __init__(self, token_script: Script) -> None:
        self._token_script = token_script
        self._lock = threading.Lock()
        self._authorizations: list[str | None] = []
        self._server = HostileServer(self._dispatch)

    def _dispatch(self, peer: Peer) -> None:
        if peer.path == _TOKEN_PATH:
            self._token_script(peer)
        elif peer.path == _WARM_PATH:
            peer.send(reply(_VALID, [_JSON]))
        else:
            with self._lock:
                self._authorizations.append(_header(peer.request, b"authorization"))
            peer.send(reply(b'{"ok": true}', [_JSON]))

    @property
    def url(self) -> str:
        return self._server.url

    def token_requests(self) -> int:
        return sum(1 for _, path in self._server.requests() if path == _TOKEN_PATH)

    def api_authorizations(self) -> list[str | None]:
        with self._lock:
            return list(self._authorizations)

    def __enter__(self) -> Self:
        self._server.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.__exit__(exc_type, exc, traceback)


def _limits(case: _Case) -> Limits:
    override = case.limits
    if override is None:
        return TOKEN_REQUEST_LIMITS
    return Limits(
        connect_timeout=override.connect_timeout or TOKEN_REQUEST_LIMITS.connect_timeout,
        read_timeout=override.read_timeout or TOKEN_REQUEST_LIMITS.read_timeout,
        total_timeout=override.total_timeout or TOKEN_REQUEST_LIMITS.total_timeout,
        max_body_bytes=TOKEN_REQUEST_LIMITS.max_body_bytes,
    )


@contextlib.contextmanager
def _client(
    endpoint: _Endpoint, case: _Case, clock: FakeClock, token: OAuthToken | None = None
) -> Generator[ApiClient]:
    """An `ApiClient` of `endpoint` over a real `Urllib3Transport`: one attempt per call,
    renewals on the calling thread, a fixed jitter draw, the case's token request limits."""
    transport = Urllib3Transport()
    try:
        with ApiClient(
            client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
                o_auth_client_id="corpus-client",
                o_auth_client_secret="corpus-secret",
                o_auth_token=token,
            ),
            token_url=endpoint.url + _TOKEN_PATH,
            base_url=endpoint.url,
            transport=transport,
            clock=clock,
            entropy=lambda: 0.5,
            token_request_limits=_limits(case),
            resilience=ResiliencePolicy(max_attempts=1),
            spawn=run_inline,
        ) as client:
            yield client
    finally:
        transport.close()


class _Peak:
    kib: int = -1


@contextlib.contextmanager
def _traced_peak() -> Generator[_Peak]:
    """tracemalloc's peak of Python-allocated memory (zlib's state included) above the start.

    It counts every thread, the hostile server's too, so it can only over-state.
    """
    peak = _Peak()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    try:
        yield peak
    finally:
        peak.kib = (tracemalloc.get_traced_memory()[1] - base) // 1024
        if not was_tracing:
            tracemalloc.stop()


# -- the corpus itself ---------------------------------------------------------------------------


def test_the_corpus_has_enough_cases_and_covers_every_category() -> None:
    hostile = {name: case for name, case in _CASES.items() if not case.expect.accepted}
    accepted = {name: case for name, case in _CASES.items() if case.expect.accepted}
    all_categories = {case.category for case in _CASES.values()}
    hostile_categories = {case.category for case in hostile.values()}
    sys.stdout.write(
        f"corpus: {len(_CASES)} files, {len(hostile)} hostile, {len(accepted)} accepted, "
        f"{len(all_categories)} categories ({len(hostile_categories)} with hostile cases)\n"
    )
    assert len(hostile) >= _MIN_HOSTILE_CASES
    assert all_categories >= _REQUIRED_CATEGORIES, _REQUIRED_CATEGORIES - all_categories
    hostile_required = _REQUIRED_CATEGORIES - _ACCEPTED_ONLY_CATEGORIES
    assert hostile_required <= hostile_categories, hostile_required - hostile_categories


@pytest.mark.parametrize("path", _FILES, ids=[path.stem for path in _FILES])
def test_each_case_file_is_well_formed(path: Path) -> None:
    """One body source; a hostile case names a real `CcgError` and what its message says; an
    accepted one states the token it yields."""
    case = _load(path)
    assert path.name == path.name.lower()
    assert " " not in path.name
    assert case.about.strip()
    assert case.category.strip()
    assert len(case.sources()) == 1, case.sources()
    for segment in case.body_repeat or []:
        assert segment.text
        assert segment.times >= 1
    if case.script is not None:
        assert case.script in _SCRIPTS, case.script
    expect = case.expect
    if expect.accepted:
        assert path.stem.startswith("accepted-")
        assert expect.error is None
        assert not expect.message
        assert expect.access_token is not None
        assert expect.token_type is not None
    else:
        assert not path.stem.startswith("accepted-")
        assert expect.error is not None
        assert expect.message
        error = getattr(ccg, expect.error, None)
        assert isinstance(error, type), expect.error
        assert issubclass(error, CcgError), expect.error
        assert expect.access_token is None
        assert expect.token_type is None
        assert expect.expires_in is None
    if case.xfail is not None:
        assert case.xfail.reason.startswith("ccg bug: ")
        assert case.xfail.tests
        assert not expect.accepted


# -- hostile replies ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _params(accepted=False, check="reply"))
def test_a_hostile_reply_is_the_typed_error_that_names_it(name: str) -> None:
    """No token held: the call raises the named error; no token results, no API request."""
    case = _CASES[name]
    with _Endpoint(_script(case)) as endpoint, _client(endpoint, case, FakeClock()) as client:
        with _traced_peak() as peak, pytest.raises(CcgError) as raised:
            client.get(_API_PATH)
        error = raised.value
        message = str(error)
        sys.stdout.write(
            f"{name}: {type(error).__name__}: {message[:160]!r}; peak {peak.kib} KiB\n"
        )
        assert type(error).__name__ == case.expect.error, message
        for part in case.expect.message:
            assert part in message, (part, message)
        assert _MARKER not in message
        assert client.auth_manager.o_auth_token is None
        assert endpoint.token_requests() == 1
        # Asked again, still no token: the same error at once (cool-down) or after refetching.
        with pytest.raises(TokenAcquisitionError):
            client.auth_manager.token()
        assert client.auth_manager.o_auth_token is None
        assert endpoint.api_authorizations() == []  # nothing was sent to the API
    assert peak.kib < _MEMORY_BOUND_KIB


@pytest.mark.parametrize("name", _params(accepted=False, check="renewal"))
def test_a_hostile_renewal_leaves_the_cached_token_in_use(name: str) -> None:
    """A valid token in its refresh window: the renewal meets the hostile reply; the call,
    and the next, get the cached token, and it is still held."""
    case = _CASES[name]
    clock = FakeClock()
    cached = OAuthToken(access_token=_CACHED, token_type="Bearer", expires_in=3600)
    with (
        _Endpoint(_script(case)) as endpoint,
        _client(endpoint, case, clock, token=cached) as client,
    ):
        assert client.auth_manager.token().access_token == _CACHED
        assert endpoint.token_requests() == 0  # fresh: no renewal yet
        # Usable until 3600 - 60 s of skew; the refresh window is its last quarter (from 2655 s).
        clock.advance(3000)
        assert client.get(_API_PATH).status == 200
        assert endpoint.token_requests() == 1  # the renewal went out and met the reply
        assert endpoint.api_authorizations() == [f"Bearer {_CACHED}"]
        held = client.auth_manager.o_auth_token
        assert held is not None
        assert held.access_token == _CACHED
        assert client.auth_manager.token().access_token == _CACHED
        assert client.get(_API_PATH).status == 200
        assert endpoint.api_authorizations() == [f"Bearer {_CACHED}"] * 2


# -- odd replies ccg accepts on purpose ------------------------------------------------------------


@pytest.mark.parametrize("name", _params(accepted=True))
def test_an_accepted_odd_reply_yields_exactly_the_stated_token(name: str) -> None:
    case = _CASES[name]
    expect = case.expect
    with _Endpoint(_script(case)) as endpoint, _client(endpoint, case, FakeClock()) as client:
        with _traced_peak() as peak:
            reply_ = client.get(_API_PATH)
        held = client.auth_manager.o_auth_token
        sys.stdout.write(f"{name}: accepted {held!r}; peak {peak.kib} KiB\n")
        assert reply_.status == 200
        assert held is not None
        assert (held.access_token, held.token_type, held.expires_in) == (
            expect.access_token,
            expect.token_type,
            expect.expires_in,
        )
        assert endpoint.api_authorizations() == [f"Bearer {expect.access_token}"]
    # The control for the memory measure: the body was read whole, so it shows in the peak.
    body_kib = len(_body(case)) // 1024
    assert body_kib <= peak.kib < _MEMORY_BOUND_KIB


@pytest.mark.parametrize("name", _params(accepted=True))
def test_an_accepted_odd_renewal_replaces_the_cached_token(name: str) -> None:
    case = _CASES[name]
    clock = FakeClock()
    cached = OAuthToken(access_token=_CACHED, token_type="Bearer", expires_in=3600)
    with (
        _Endpoint(_script(case)) as endpoint,
        _client(endpoint, case, clock, token=cached) as client,
    ):
        clock.advance(3000)
        assert client.get(_API_PATH).status == 200
        assert endpoint.token_requests() == 1
        held = client.auth_manager.o_auth_token
        assert held is not None
        assert (held.access_token, held.expires_in) == (
            case.expect.access_token,
            case.expect.expires_in,
        )


# -- memory, measured by the kernel ----------------------------------------------------------------

_BIG_CASES: Final = sorted(name for name, case in _CASES.items() if case.script in _BIG_SCRIPTS)
_needs_proc: Final = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="the probe reads /proc/self/status (Linux)"
)


def _rss_probe(script: Script, *extra: str) -> dict[str, object]:
    """Serve `script` and run `_hostile_server.probe_token` against it in a fresh process."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COV_CORE_")}
    with _Endpoint(script) as endpoint:
        command = [
            sys.executable,
            "-m",
            "tests.integration._hostile_server",
            endpoint.url + _TOKEN_PATH,
            "--warm-url",
            endpoint.url + _WARM_PATH,
            "--token",
            *extra,
        ]
        done = subprocess.run(
            command, cwd=_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
        )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def _kib(result: dict[str, object], measure: str) -> int:
    kib = result[measure]
    assert isinstance(kib, int), result
    return kib


@_needs_proc
@pytest.mark.parametrize("name", _BIG_CASES)
def test_the_big_cases_grow_resident_memory_by_under_10_mib(name: str) -> None:
    """A fresh process asks an `ApiClient` for a token from the case: its peak RSS growth
    (and tracemalloc's peak on a second try) stays under 10 MiB while refusing it."""
    case = _CASES[name]
    result = _rss_probe(_script(case))
    sys.stdout.write(f"{name}: rss probe {result}\n")
    assert result["error"] == result["again_error"] == case.expect.error, result
    message = result["message"]
    assert isinstance(message, str)
    for part in case.expect.message:
        assert part in message, (part, message)
    assert _kib(result, "growth_kib") < _MEMORY_BOUND_KIB, result
    assert _kib(result, "traced_peak_kib") < _MEMORY_BOUND_KIB, result


@_needs_proc
def test_the_rss_probe_sees_a_body_read_whole() -> None:
    """The control: a 16 MiB token reply, read whole under a 32 MiB limit, shows in both
    measures as more than the bound (so the bound is not met by a probe that sees nothing)."""
    padding = b"x" * (16 * MIB)
    body = b'{"access_token": "control", "token_type": "Bearer", "padding": "' + padding + b'"}'

    def script(peer: Peer) -> None:
        peer.send_all([head(200, [_JSON, ("Content-Length", str(len(body)))]), body])

    result = _rss_probe(script, "--max-body-bytes", str(32 * MIB))
    sys.stdout.write(f"control: rss probe {result}\n")
    assert result["error"] is result["again_error"] is None, result
    assert _kib(result, "growth_kib") > _MEMORY_BOUND_KIB, result
    assert _kib(result, "traced_peak_kib") > _MEMORY_BOUND_KIB, result
