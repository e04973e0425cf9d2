"""Fuzzing the threaded shell: random sequences of calls on a real `ApiClient` and its
`ClientCredentialsAuthManager`, over a `FakeTransport` whose replies are drawn as they are
asked for (tokens, errors, hostile replies, transport failures, a transport that raises or
asks for the token it is fetching), a `FakeClock` moved and jumped between calls, and
`spawn=run_inline`, so background renewals run at once and the run is deterministic.

Calls: API requests (GET/POST, any origin, with and without auth, with a caller's own
`Authorization`), `token()`/`bearer()`/`authorization_header()`, `fetch_token()` with
good and bad extra params, tokens set by hand (valid, junk, None, the held one) through
the manager and through the credentials, `token_rejected`/`token_accepted`,
`is_token_expired`. Under random clock skews, limits and resilience policies (some that
the constructor refuses), with the token endpoint or a token provider (which may return
junk, raise, or ask the manager for the token it is providing), with or without an
on-update callback (which may raise).

After every call:
- nothing but a `ccg.CcgError` escaped;
- every `Authorization: Bearer` sent to the API carried the token the manager held (or,
  right after an inline renewal replaced it within the same call, the one it held just
  before), one the manager had been given, and not expired: before the end of its
  lifetime as worked out here from what was served or set, independently of the
  machine; and before the instant the machine itself stops using it;
- a token handed out by `token()` is the held one and usable; the on-update callback is
  told only of the token just adopted; no call waited in real time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final, cast

import msgspec
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from returns.result import Result, Success

from ccg import (
    TOKEN_REQUEST_LIMITS,
    ApiClient,
    CcgError,
    ClientCredentialsAuthCredentials,
    ClientCredentialsAuthManager,
    ConfigurationError,
    Event,
    HttpReply,
    HttpRequest,
    Limits,
    OAuthToken,
    ResiliencePolicy,
    TransportFailure,
)
from ccg.core import (
    MAX_LIFETIME,
    FlightSettled,
    decode_token_reply,
    token_problem,
)
from ccg.testing import FakeClock, FakeTransport, json_reply, run_inline, token_reply
from ccg.testing.strategies import (
    EPOCH,
    access_tokens,
    clock_skews,
    error_replies,
    hostile_replies,
    hostile_tokens,
    http_replies,
    lifetimes,
    request_limits,
    resilience_policies,
    time_advances,
    token_replies,
    tokens,
    transport_failures,
    wall_jumps,
)
from tests.fuzz._budget import MACHINE_SHARE, fuzz_settings
from tests.fuzz._strategies import any_text, header_lists

TOKEN_URL: Final = "https://as.example/token"
API: Final = "https://api.example"
LONGEST_CALL: Final = 10.0
"""Real seconds one call may take: with a fake clock nothing waits, so a call that takes
long waited for real (for a flight nobody runs, or a backoff on the real clock)."""
CREDENTIAL_TEXT: Final = st.text(min_size=1, max_size=12)
"""Client ids, secrets and extra params: any text but lone surrogates, which the
constructor refuses (shown by `test_fuzz_findings.py`): the sequences here are about the
clients that can be built."""


class _Raise:
    """A scripted answer: the transport raises instead of answering (a transport bug)."""


class _AskForTheToken:
    """A scripted answer: the transport asks the manager for the token it is fetching."""


def _clean_token_replies() -> st.SearchStrategy[HttpReply]:
    return st.builds(
        token_reply, access_tokens(), expires_in=st.none() | lifetimes() | st.integers(1, 120)
    )


def _token_answers() -> st.SearchStrategy[object]:
    """What the token endpoint does: mostly a good token, else anything (a token with junk
    in it, an error, a hostile reply, a transport failure or exception)."""
    anything = st.one_of(
        token_replies(),
        error_replies(),
        hostile_replies(),
        http_replies(),
        transport_failures(),
        st.sampled_from([_Raise(), _AskForTheToken()]),
    )
    clean = _clean_token_replies()
    return st.one_of(clean, clean, clean, anything)


def _challenges() -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            'Bearer error="invalid_token", error_description="expired"',
            'Bearer realm="api", error="invalid_request"',
            'Bearer error="insufficient_scope", scope="write"',
            'Basic realm="api"',
            "Bearer",
            "Bearer ,,,",
        ]
    ) | any_text(30)


@st.composite
def _api_replies(draw: st.DrawFn) -> HttpReply | TransportFailure:
    """What the API does: mostly 200, often 401 (with any challenge), 403, 5xx, junk."""
    kind = draw(st.sampled_from(["ok", "ok", "401", "401", "403", "5xx", "junk", "failure"]))
    match kind:
        case "ok":
            return json_reply(200, {"ok": True})
        case "401":
            headers = draw(st.lists(_challenges(), max_size=2))
            return HttpReply(
                status=401,
                headers=tuple(("WWW-Authenticate", h) for h in headers),
                body=draw(st.sampled_from([b"", b'{"error":"invalid_token"}'])),
            )
        case "403":
            headers = draw(st.lists(_challenges(), max_size=1))
            return HttpReply(
                status=403,
                headers=tuple(("WWW-Authenticate", h) for h in headers),
                body=draw(
                    st.sampled_from([b"", b'{"error":"insufficient_scope","scope":"x"}', b"[["])
                ),
            )
        case "5xx":
            return HttpReply(status=draw(st.integers(500, 599)), body=b"<html>down</html>")
        case "junk":
            return HttpReply(
                status=draw(st.integers(100, 599)),
                headers=draw(header_lists()),
                body=draw(st.binary(max_size=40)),
            )
        case _:
            return draw(transport_failures())


def _usable_limits(limits: Limits) -> Limits:
    """`limits` with what the constructor refuses (a zero timeout or body limit) mended."""
    return Limits(
        connect_timeout=limits.connect_timeout if limits.connect_timeout > 0 else 1.0,
        read_timeout=limits.read_timeout if limits.read_timeout > 0 else 1.0,
        total_timeout=limits.total_timeout if limits.total_timeout > 0 else 1.0,
        max_body_bytes=limits.max_body_bytes if limits.max_body_bytes else None,
    )


def _usable_resilience(policy: ResiliencePolicy) -> ResiliencePolicy:
    """`policy` with what the constructor refuses (a cap below the base) mended."""
    return msgspec.structs.replace(policy, backoff_cap=max(policy.backoff_cap, policy.backoff_base))


def _lifetime_end(
    token: OAuthToken, start: float, wall: float, default_lifetime: float | None
) -> float:
    """When `token`, received at `start` (monotonic) with the wall clock at `wall`, expires,
    by RFC 6749 alone: its `expiry` on the wall clock, else `expires_in` seconds after it
    was asked for, else the policy's default lifetime, else never."""
    if token.expiry is not None:
        return start + (token.expiry - wall)
    if token.expires_in:
        return start + min(token.expires_in, MAX_LIFETIME)
    if default_lifetime is not None:
        return start + min(default_lifetime, MAX_LIFETIME)
    return math.inf


class ShellFuzz(RuleBasedStateMachine):
    """One `ApiClient`, called in any order, with the clock moving in between."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(EPOCH)
        self.fake = FakeTransport()
        self.data: st.DataObject | None = None
        self.client: ApiClient | None = None
        self.credentials: ClientCredentialsAuthCredentials | None = None
        self.default_lifetime: float | None = None
        self.max_body_bytes: int | None = None
        self.ends: dict[str, list[float]] = {}
        """Every access token ccg was given, and when each giving of it expires."""
        self.fresh_until: dict[str, float] = {}
        """The instant from which the machine stops using each token it held (last seen)."""
        self.handed_out: list[OAuthToken] = []
        self.renewed = False
        """An inline renewal adopted a token during the current call."""
        self.expect_bearer = False
        """The current call is an API request that requires auth."""
        self.api_sends = 0
        self.bearers_checked = 0
        self.calls = 0
        self.problems: list[str] = []
        """What checks inside callbacks found (ccg turns their exceptions into its own)."""

    # -- set up --------------------------------------------------------------------------

    @initialize(
        data=st.data(),
        skew=clock_skews(),
        limits=st.just(TOKEN_REQUEST_LIMITS) | request_limits(),
        resilience=resilience_policies(),
        provider=st.booleans(),
        callback=st.booleans(),
        initial=st.one_of(st.none(), st.none(), tokens(), tokens(), hostile_tokens()),
        client_id=CREDENTIAL_TEXT,
        secret=CREDENTIAL_TEXT,
        base_url=st.booleans(),
    )
    def build(
        self,
        data: st.DataObject,
        skew: float,
        limits: Limits,
        resilience: ResiliencePolicy,
        provider: bool,
        callback: bool,
        initial: object,
        client_id: str,
        secret: str,
        base_url: bool,
    ) -> None:
        self.data = data

        def credentials(token: object) -> ClientCredentialsAuthCredentials:
            return ClientCredentialsAuthCredentials(
                client_id,
                secret,
                ["read"],
                o_auth_token=cast("OAuthToken | None", token),  # deliberately untyped
                o_auth_token_provider=self.provide if provider else None,
                o_auth_on_token_update=self.notified if callback else None,
                o_auth_clock_skew=skew,
            )

        def client(
            creds: ClientCredentialsAuthCredentials, limits: Limits, policy: ResiliencePolicy
        ) -> ApiClient:
            return ApiClient(
                client_credentials_auth_credentials=creds,
                token_url=TOKEN_URL,
                base_url=API if base_url else None,
                origins=() if base_url else [API],
                transport=self,  # the router below: it checks, then the FakeTransport answers
                clock=self.clock,
                entropy=lambda: data.draw(st.floats(0, 1, exclude_max=True), label="entropy"),
                token_request_limits=limits,
                resilience=policy,
                on_event=self.on_event,
                spawn=run_inline,
            )

        try:
            self.credentials = credentials(initial)
        except CcgError as error:
            event(f"construction refused: {type(error).__name__}")
            assert token_problem(initial) is not None
            self.credentials = credentials(None)
        else:
            if isinstance(initial, OAuthToken):
                self.given(initial, self.clock.monotonic())
        try:
            self.client = client(self.credentials, limits, resilience)
        except ConfigurationError as error:
            event(f"construction refused: {type(error).__name__}")
            self.client = client(
                self.credentials, _usable_limits(limits), _usable_resilience(resilience)
            )
        self.default_lifetime = self.manager.policy.resilience.default_lifetime
        self.max_body_bytes = self.manager.policy.limits.max_body_bytes
        self.observe()

    @property
    def manager(self) -> ClientCredentialsAuthManager:
        assert self.client is not None
        return self.client.auth_manager

    def draw(self, strategy: st.SearchStrategy[object], label: str) -> object:
        assert self.data is not None
        return self.data.draw(strategy, label=label)

    # -- what ccg was given, and what the machine holds --------------------------------------

    def given(self, token: OAuthToken, start: float) -> None:
        """`token` was handed to ccg at `start` (monotonic, the wall clock reading now)."""
        end = _lifetime_end(token, start, self.clock.time(), self.default_lifetime)
        self.ends.setdefault(token.access_token, []).append(end)

    def observe(self) -> None:
        held = self.manager.state.held
        if held is not None:
            self.fresh_until[held.token.access_token] = held.fresh_until

    def on_event(self, happened: Event) -> None:
        # Only records: ccg logs what a hook raises and carries on.
        if isinstance(happened, FlightSettled) and happened.renewal and happened.failure is None:
            self.renewed = True
        if self.client is not None:
            self.observe()

    # -- the ports ccg calls ------------------------------------------------------------------

    def send(self, request: HttpRequest, /) -> Result[HttpReply, TransportFailure]:
        """The transport: check what is sent, then let the `FakeTransport` answer it."""
        if request.url == TOKEN_URL:
            answer = self.draw(_token_answers(), "token endpoint")
            if isinstance(answer, _Raise):
                raise RuntimeError("the transport broke")
            if isinstance(answer, _AskForTheToken):
                self.manager.token()  # ReentrantTokenRequest while its own flight runs
                answer = self.draw(_clean_token_replies(), "token endpoint")
            assert isinstance(answer, HttpReply | TransportFailure)
            self.fake.add(answer)
            sent = self.fake.send(request)
            if isinstance(sent, Success):
                decoded = decode_token_reply(sent.unwrap(), max_body_bytes=self.max_body_bytes)
                if isinstance(decoded, Success):
                    self.given(decoded.unwrap(), self.clock.monotonic())
            return sent
        self.check_sent(request)
        reply = self.draw(_api_replies(), "API")
        assert isinstance(reply, HttpReply | TransportFailure)
        self.fake.add(reply)
        return self.fake.send(request)

    def check_sent(self, request: HttpRequest) -> None:
        """The bearer token sent to the API is held, known and not expired."""
        self.api_sends += 1
        assert self.api_sends <= 2, "one request, and at most one replay after a 401"
        values = [v for k, v in request.headers if k.lower() == "authorization"]
        if not self.expect_bearer:
            assert not any(v.startswith("Bearer ") for v in values), "a token sent unasked"
            return
        assert len(values) == 1, values
        assert values[0].startswith("Bearer "), values
        assert request.url.startswith(API + "/"), "a token sent to another origin"
        access_token = values[0].removeprefix("Bearer ")
        m = self.clock.monotonic()
        self.check_usable(access_token, m)

    def check_usable(self, access_token: str, m: float) -> None:
        self.bearers_checked += 1
        held = self.manager.state.held
        assert held is not None, "a token sent while none is held"
        if access_token != held.token.access_token:
            # Only an inline renewal during this very call replaces the token a caller got.
            assert self.renewed, "a token sent that is not the one held"
        assert access_token in self.ends, "a token sent that ccg was never given"
        assert m < max(self.ends[access_token]), "an expired token sent"
        assert m < self.fresh_until[access_token], "a token sent after the machine let it go"

    def provide(
        self, last: OAuthToken | None, manager: ClientCredentialsAuthManager
    ) -> OAuthToken | None:
        """The token provider: a token, the last one, None, junk, a raise, or a re-entry."""
        kind = self.draw(
            st.sampled_from(
                ["token"] * 6 + ["last", "none", "junk", "raise", "reenter", "fetch", "fetch"]
            ),
            "provider",
        )
        m = self.clock.monotonic()
        match kind:
            case "token":
                token = self.draw(tokens(), "provided")
                assert isinstance(token, OAuthToken)
                self.given(token, m)
                return token
            case "last":
                return last
            case "none":
                return None
            case "junk":
                junk = self.draw(hostile_tokens(), "provided junk")
                return cast("OAuthToken | None", junk)  # what an untyped provider may return
            case "raise":
                raise ConnectionError("the vault is down")
            case "reenter":
                return manager.token()  # raises ReentrantTokenRequest: its own flight
            case _:
                return manager.fetch_token()

    def notified(self, token: OAuthToken) -> None:
        """The on-update callback: told only of the token just adopted; may raise."""
        held = self.manager.state.held
        if held is None or held.token != token:
            self.problems.append(f"told of a token that is not held: {token!r}")
        if token_problem(token) is not None:
            self.problems.append(f"told of an unusable token: {token_problem(token)}")
        if self.draw(st.integers(0, 3), "callback raises") == 0:
            raise OSError("disk full")

    # -- calls --------------------------------------------------------------------------------

    def call(self, action: Callable[[], object]) -> object:
        """Run one call: only a `CcgError` may escape it, and it must not wait in real time."""
        self.renewed = False
        self.api_sends = 0
        self.calls += 1
        started = time.monotonic()
        try:
            result = action()
        except CcgError as error:
            event(f"raised {type(error).__name__}")
            result = None
        assert time.monotonic() - started < LONGEST_CALL, "a call waited in real time"
        assert not self.problems, self.problems
        self.observe()
        return result

    @rule(
        method=st.sampled_from(["GET", "POST", "DELETE"]),
        url=st.sampled_from(["/things", "things/1", f"{API}/me", "https://other.example/x"]),
        requires_auth=st.booleans() | st.just(True),
        own_authorization=st.booleans(),
        payload=st.none() | st.just({"a": 1}),
    )
    def request(
        self,
        method: str,
        url: str,
        requires_auth: bool,
        own_authorization: bool,
        payload: object,
    ) -> None:
        client = self.client
        assert client is not None
        headers = {"authorization": "Basic dXNlcjpwdw=="} if own_authorization else None
        self.expect_bearer = requires_auth
        reply = self.call(
            lambda: client.request(
                method, url, headers=headers, json=payload, requires_auth=requires_auth
            )
        )
        self.expect_bearer = False
        assert reply is None or isinstance(reply, HttpReply)

    @rule(path=st.sampled_from(["/things", "/me"]))
    def get(self, path: str) -> None:
        """`client.get`: the commonest call, so drawn more often."""
        client = self.client
        assert client is not None
        self.expect_bearer = True
        reply = self.call(lambda: client.get(API + path))
        self.expect_bearer = False
        assert reply is None or isinstance(reply, HttpReply)

    @rule(which=st.sampled_from(["token", "bearer", "authorization_header"]))
    def token(self, which: str) -> None:
        manager = self.manager
        got = self.call(getattr(manager, which))
        if got is None:
            return
        match got:
            case OAuthToken():
                access_token = got.access_token
                self.handed_out.append(got)
            case (OAuthToken() as token, str() as header):
                assert header == "Bearer " + token.access_token
                access_token = token.access_token
                self.handed_out.append(token)
            case _:
                assert isinstance(got, str)
                assert got.startswith("Bearer ")
                access_token = got.removeprefix("Bearer ")
        self.check_usable(access_token, self.clock.monotonic())

    @rule(
        params=st.none()
        | st.dictionaries(
            st.sampled_from(["audience", "resource"]), CREDENTIAL_TEXT, min_size=1, max_size=2
        )
        | st.dictionaries(
            st.sampled_from(["audience", "resource", "grant_type", ""]) | CREDENTIAL_TEXT,
            CREDENTIAL_TEXT | st.lists(CREDENTIAL_TEXT, max_size=2) | st.integers(),
            max_size=2,
        )
    )
    def fetch_token(self, params: dict[str, object] | None) -> None:
        # Values of the wrong type too, as an untyped caller may pass them.
        extra = cast("dict[str, str | list[str]] | None", params)
        fetched = self.call(lambda: self.manager.fetch_token(extra))
        if fetched is not None:
            assert isinstance(fetched, OAuthToken)
            assert token_problem(fetched) is None
            self.handed_out.append(fetched)

    @rule(data=st.data(), through_credentials=st.booleans())
    def set_token(self, data: st.DataObject, through_credentials: bool) -> None:
        choices: list[st.SearchStrategy[object]] = [st.none(), tokens(), hostile_tokens()]
        if self.handed_out:
            choices.append(st.sampled_from(self.handed_out))
        token = data.draw(st.one_of(choices), label="set")
        credentials = self.credentials
        assert credentials is not None
        m = self.clock.monotonic()

        untyped = cast("OAuthToken | None", token)  # junk too, as an untyped caller may set it

        def set_it() -> None:
            if through_credentials:
                credentials.o_auth_token = untyped
            else:
                self.manager.set_token(untyped)

        if isinstance(token, OAuthToken) and token_problem(token) is None:
            self.given(token, m)
        self.call(set_it)

    @rule(data=st.data(), accepted=st.booleans())
    def reject_or_accept(self, data: st.DataObject, accepted: bool) -> None:
        choices: list[st.SearchStrategy[OAuthToken]] = [tokens()]
        if self.handed_out:
            choices.append(st.sampled_from(self.handed_out))
        token = data.draw(st.one_of(choices), label="token")
        if accepted:
            self.call(lambda: self.manager.token_accepted(token))
            return
        reason = data.draw(st.sampled_from(["HTTP 401", "HTTP 401 invalid_token: x"]) | any_text())
        replacement = self.call(lambda: self.manager.token_rejected(token, reason=reason))
        if replacement is not None:
            assert isinstance(replacement, OAuthToken)
            self.handed_out.append(replacement)
            self.check_usable(replacement.access_token, self.clock.monotonic())

    @rule(data=st.data())
    def is_token_expired(self, data: st.DataObject) -> None:
        choices: list[st.SearchStrategy[OAuthToken | None]] = [st.none(), tokens()]
        if self.handed_out:
            choices.append(st.sampled_from(self.handed_out))
        token = data.draw(st.one_of(choices), label="token")
        expired = self.call(lambda: self.manager.is_token_expired(token))
        assert isinstance(expired, bool)

    # -- the clock ----------------------------------------------------------------------------

    @rule(
        advance=time_advances().map(abs),
        jump=st.just(0.0) | wall_jumps(),
        wall=st.none()
        | st.sampled_from([0.0, -1.0, 1e15, -1e15, 1.7976931348623157e308])
        | st.floats(-1e18, 1e18),
    )
    def clock_moves(self, advance: float, jump: float, wall: float | None) -> None:
        """Time passes; the wall clock alone may jump, or be set anywhere."""
        self.clock.advance(advance)
        self.clock.jump(jump)
        if wall is not None:
            self.clock.set(wall)

    @invariant()
    def held_is_sound(self) -> None:
        if self.client is None:
            return
        held = self.manager.state.held
        if held is not None:
            assert token_problem(held.token) is None
            assert held.refresh_at <= held.fresh_until <= held.expires_at

    def teardown(self) -> None:
        if self.client is not None:
            event(f"flights started: {min(self.manager.state.flights, 5)}")
            for what, count in (
                ("API requests sent", len([r for r in self.fake.requests if r.url != TOKEN_URL])),
                ("tokens checked", self.bearers_checked),
                ("calls", self.calls),
            ):
                event(f"{what}: {'0' if count == 0 else '1-5' if count <= 5 else '6+'}")


TestShell = ShellFuzz.TestCase
TestShell.settings = fuzz_settings(MACHINE_SHARE, stateful_step_count=30)
