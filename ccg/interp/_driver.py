"""The driver: the loop that runs the machine's work and feeds the outcomes back, I/O-free.

Written once, as generators (the shape of httpx's `auth_flow`). A flow yields the
work a shell must do, and receives what that work returned:

    HttpRequest        send it             -> Result[HttpReply, TransportFailure]
    CallTokenProvider  call the provider   -> whatever it returned
    NotifyTokenUpdate  call the callback   -> anything (ignored)
    AwaitFlight        wait for a release  -> None
                       or until `until`
    AwaitRetry         wait until `until`  -> None
    Background         start its flow      -> None
                       without waiting

If the work raises, the shell throws the exception into the flow (`flow.throw`),
which turns it into the machine's input and decides. A shell is then a short loop
around `next`/`send`/`throw`: the threaded one in `_manager.py`, an asyncio one
differing only by `await`.
"""

from __future__ import annotations

from collections.abc import Generator
from contextvars import ContextVar
from typing import Final, NoReturn, TypeAlias, TypeVar, cast

import msgspec
from returns.result import Failure, Success

from ccg._errors import ReentrantTokenRequest, exception_for
from ccg.core import (
    Abandoned,
    Answer,
    AwaitFlight,
    AwaitRetry,
    CallTokenProvider,
    Decision,
    Event,
    Fail,
    FetchToken,
    FlightAbandoned,
    Held,
    HttpReply,
    HttpRequest,
    Input,
    InsufficientScope,
    NotifyTokenUpdate,
    NoUsableToken,
    OAuthToken,
    RejectedByApi,
    TokenFailure,
    TokenNeeded,
    TokenProvided,
    TokenProviderRaised,
    TokenRejected,
    TokenReplyReceived,
    TokenRequestFailed,
    TokenSet,
    TokenUpdateNotified,
    TokenUpdateRaised,
    TransportFailure,
    UseToken,
    accept_reply,
    current_token,
    naming_forms_tried,
    refused_authentication,
    scrubbed,
    scrubbed_text,
    token_request,
)
from ccg.interp._cell import TokenCell

__all__ = [
    "MAX_ROUNDS",
    "Background",
    "Flow",
    "Work",
    "acquire",
    "api_text",
    "fetch",
    "reacquire",
    "reported",
    "set_token",
]

MAX_ROUNDS: Final = 6
"""Answers one call may ask for per token request it may go through, before it gives up
(`NoUsableToken`). A caller needs one to three per request; more only when every
token it gets expires before it can use it."""

T = TypeVar("T")


class Background:
    """Run `flow` without making the caller wait: a renewal while the held token is
    still usable. Its result is dropped; what it does reaches callers through the cell."""

    __slots__ = ("flow",)

    def __init__(self, flow: Generator[Work, object, object]) -> None:
        self.flow = flow
        """The flow to drive to its end, on another thread or task."""


Work: TypeAlias = (
    HttpRequest | CallTokenProvider | NotifyTokenUpdate | AwaitFlight | AwaitRetry | Background
)
"""What a flow asks its shell to do."""

Flow: TypeAlias = Generator[Work, object, T]
"""A flow: yields work, receives each piece's outcome, returns its result or raises."""

_PRODUCING: Final = (FetchToken, CallTokenProvider, NotifyTokenUpdate)
"""The effects whose outcome is an input to step next."""

# The flight the running code (thread or task) is carrying out, so that a provider or
# transport asking for the token it is fetching is refused instead of waiting on itself.
_RUNNING: Final[ContextVar[int | None]] = ContextVar("ccg_running_flight", default=None)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _reply_input(
    flight: int, result: object
) -> TokenReplyReceived | TokenRequestFailed | FlightAbandoned:
    """The machine's input for what a transport returned (an untyped one may return anything)."""
    if isinstance(result, Success):
        reply = cast("Success[object]", result).unwrap()
        if isinstance(reply, HttpReply):
            return TokenReplyReceived(flight=flight, reply=reply)
    elif isinstance(result, Failure):
        failure = cast("Failure[object]", result).failure()
        if isinstance(failure, TransportFailure):
            return TokenRequestFailed(flight=flight, failure=failure)
    reason = f"the transport returned {result!r:.100}, not Result[HttpReply, TransportFailure]"
    return FlightAbandoned(flight=flight, reason=reason)


def _outcome(effect: FetchToken | CallTokenProvider | NotifyTokenUpdate, outcome: object) -> Input:
    """The input for what the shell's run of `effect` returned."""
    if isinstance(effect, FetchToken):
        return _reply_input(effect.flight, outcome)
    if isinstance(effect, CallTokenProvider):
        return TokenProvided(flight=effect.flight, token=outcome)
    return TokenUpdateNotified(token=effect.token)


def _failed(effect: FetchToken | CallTokenProvider | NotifyTokenUpdate, exc: Exception) -> Input:
    """The input for an exception the shell's run of `effect` raised."""
    reason = _describe(exc)
    if isinstance(effect, NotifyTokenUpdate):
        return TokenUpdateRaised(token=effect.token, reason=reason)  # the caller's typed error
    if isinstance(effect, CallTokenProvider):
        return TokenProviderRaised(flight=effect.flight, reason=reason)
    # A transport reports failures as values; raising is a bug or a surprise.
    return FlightAbandoned(flight=effect.flight, reason=reason)


def _run(
    cell: TokenCell, event: Input, *, detach: bool = False
) -> Flow[tuple[Answer | None, BaseException | None, int | None]]:
    """Step `event`, run the work that follows; the caller's answer, the cause of a
    failure its work met, and the flight it ran (if it ran one).

    Work that follows a `UseToken` answer (a renewal in the refresh window) is handed
    to the shell as `Background`: the caller has its token and does not wait. With
    `detach`, so is every flight this caller starts: it then waits for the flight like
    any other caller, so that cancelling it cancels its wait, never the flight.
    """
    decision = cell.step(event)
    if decision.work and (detach or isinstance(decision.answer, UseToken)):
        flights = [e.flight for e in decision.work if isinstance(e, FetchToken | CallTokenProvider)]
        if flights:
            try:
                yield Background(_follow(cell, decision))
            except Exception as exc:  # the renewal could not even start (no thread left)
                for flight in flights:
                    cell.step(FlightAbandoned(flight=flight, reason=_describe(exc)), exc)
            return decision.answer, None, None
    return (yield from _follow(cell, decision))


def _follow(
    cell: TokenCell, decision: Decision
) -> Flow[tuple[Answer | None, BaseException | None, int | None]]:
    """Run `decision`'s work until none is left; the first answer given, the cause of the
    last failure the work met, and the flight run.

    The first answer a decision gives is this caller's; the outcomes of the work it
    runs after that still step the machine, but answer no one. While it runs a flight's
    work, the flight is this context's (`_RUNNING`), so that code the work calls asking
    for the token it is fetching is refused rather than left to wait for itself.
    """
    answer, cause, ran = decision.answer, None, None
    while True:
        produced: Input | None = None
        for effect in decision.work:
            if not isinstance(effect, _PRODUCING):
                continue  # ReleaseWaiters: the cell woke them as it stepped
            flight = None if isinstance(effect, NotifyTokenUpdate) else effect.flight
            running = None
            if flight is not None:
                running, ran = _RUNNING.set(flight), flight
            try:
                outcome = yield (effect.request if isinstance(effect, FetchToken) else effect)
            except Exception as exc:
                produced, cause = _failed(effect, exc), exc
            except BaseException as exc:
                if flight is not None:
                    # An interrupt or a cancellation: settle the flight for its waiters,
                    # then let it go on.
                    cell.step(FlightAbandoned(flight=flight, reason=_describe(exc)), exc)
                raise
            else:
                produced, cause = _outcome(effect, outcome), None
            finally:
                if running is not None:
                    try:  # noqa: SIM105 - suppress() would cost every fetch a context manager
                        _RUNNING.reset(running)
                    except ValueError:  # closed from another context (by the garbage collector)
                        pass  # nothing of this flow's to restore there
        if produced is None:
            return answer, cause, ran
        decision = cell.step(produced, cause)
        if answer is None:
            answer = decision.answer


def _raise(cell: TokenCell, answer: Fail, cause: BaseException | None) -> NoReturn:
    """Raise the typed error for `answer`, chaining this caller's cause or its flight's."""
    error = exception_for(answer.failure, answer.retry_after)
    raise error from (cause if cause is not None else cell.cause(answer.flight))


def _obtain(
    cell: TokenCell, first: Input, detach: bool
) -> Flow[tuple[UseToken | Fail, BaseException | None]]:
    """Step `first`, then ask until the machine hands out a token or fails this call.

    Counts the flights the call goes through (run or waited for), and tells the machine
    when the call began, so retries stay within `max_attempts` and `call_timeout`.
    `detach`: run the flights this call starts as `Background` (see `_run`).
    """
    since = cell.monotonic()
    attempts = 0
    event = first
    cause: BaseException | None = None
    rounds = MAX_ROUNDS * max(1, cell.policy.resilience.max_attempts)
    for _ in range(rounds):
        answer, cause, ran = yield from _run(cell, event, detach=detach)
        match answer:
            case UseToken() | Fail():
                return answer, cause
            case AwaitFlight(flight=flight):
                if _RUNNING.get() == flight:
                    raise ReentrantTokenRequest(
                        "the token is being fetched by this very caller: inside "
                        "o_auth_token_provider use auth_manager.fetch_token()"
                    )
                yield answer
                attempts += 1
                event = TokenNeeded(waited_for=flight, attempts=attempts, since=since)
            case AwaitRetry():
                yield answer
                event = TokenNeeded(attempts=attempts, since=since)
            case None:
                if ran is not None:
                    attempts += 1
                event = TokenNeeded(waited_for=ran, attempts=attempts, since=since)
    return Fail(failure=NoUsableToken(attempts=rounds)), cause


def acquire(cell: TokenCell, *, detach: bool = False) -> Flow[OAuthToken]:
    """A usable token for one call: the token, or the typed error of why there is none."""
    answer, cause = yield from _obtain(cell, TokenNeeded(), detach)
    if isinstance(answer, Fail):
        _raise(cell, answer, cause)
    return answer.token


_LONGEST_API_TEXT: Final = 300
"""Characters of an API's own words (a 401's `error_description`, a 403's `scope`) kept."""


def api_text(cell: TokenCell, text: str, sent: OAuthToken | None = None) -> str:
    """`text` from an API, cut short, scrubbed first of the secret and of the tokens it
    may echo back: the one the request carried (`sent`) and the one held."""
    tokens = {t.access_token for t in (sent, current_token(cell.state)) if t is not None}
    forms = tuple(sorted(tokens, key=len, reverse=True)) + cell.policy.secret_forms
    longest = max((len(f) for f in forms), default=0)
    return scrubbed_text(text[: _LONGEST_API_TEXT + longest], forms)[:_LONGEST_API_TEXT]


def reported(cell: TokenCell, events: tuple[Event, ...]) -> tuple[Event, ...]:
    """`events` an API call reports, with the API's own words passed through `api_text`."""
    return tuple(
        msgspec.structs.replace(e, scope=api_text(cell, e.scope))
        if isinstance(e, InsufficientScope) and e.scope is not None
        else e
        for e in events
    )


def reacquire(
    cell: TokenCell, token: OAuthToken, reason: str, *, detach: bool = False
) -> Flow[OAuthToken | None]:
    """After a protected endpoint rejected `token` (why: `reason`): the token to replay the
    request with, or None when it should not be replayed (a second rejection in a row:
    the machine cools down). Other failures to get a token raise their typed error."""
    reason = api_text(cell, reason, token)
    answer, cause = yield from _obtain(cell, TokenRejected(token=token, reason=reason), detach)
    if isinstance(answer, Fail):
        if isinstance(answer.failure, RejectedByApi):
            return None
        _raise(cell, answer, cause)
    return answer.token


def set_token(cell: TokenCell, token: object) -> Flow[None]:
    """Hold `token` (None: drop the held one), telling the on-update callback if it is new."""
    answer, cause, _ran = yield from _run(cell, TokenSet(token=token))
    if isinstance(answer, Fail):
        _raise(cell, answer, cause)


def fetch(cell: TokenCell, extra_params: tuple[tuple[str, str], ...]) -> Flow[OAuthToken]:
    """A new token straight from the endpoint, neither held nor announced (the seed's
    `fetch_token()`): the machine's request, checks and stamping, outside any flight.

    It starts from the form of client authentication the client has settled on (or
    will try next); under `ClientSecretAuto` a refusal moves on to the next form, as a
    flight does, without the client remembering it. Failures are scrubbed of the
    secret as the machine's are."""
    policy = cell.policy
    state = cell.state
    forms = policy.auth_forms
    form = min(state.auth, len(forms) - 1)
    while True:
        started = cell.now().monotonic
        try:
            outcome = yield token_request(policy, extra_params, form)
        except Exception as exc:  # a transport reports failures as values; this is a surprise
            _raise(cell, Fail(failure=Abandoned(reason=_describe(exc))), exc)
        produced = _reply_input(0, outcome)
        failure: TokenFailure
        match produced:
            case TokenReplyReceived(reply=reply):
                accepted = accept_reply(policy, reply, started, cell.now())
                if isinstance(accepted, Success):
                    held: Held = accepted.unwrap()
                    return held.token
                failure = accepted.failure()
            case TokenRequestFailed(failure=transport_failure):
                failure = transport_failure
            case _:
                failure = Abandoned(reason=produced.reason)
        refused = not state.auth_settled and refused_authentication(failure)
        if refused and form + 1 < len(forms):
            form += 1
            continue
        if refused:
            failure = naming_forms_tried(forms, failure)
        _raise(cell, Fail(failure=scrubbed(failure, policy.secret_forms)), None)
