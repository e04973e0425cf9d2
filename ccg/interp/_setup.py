"""How a manager's `TokenCell` is made from its settings: the one place the `Policy` is
built (checked, and derived from the callables given) and the initial token checked.
Shared by the threaded and the async manager, so that a setting means the same in both."""

from __future__ import annotations

from collections.abc import Callable

from returns.result import Success

from ccg._checks import (
    checked_callable,
    checked_clock_skew,
    checked_limits,
    checked_resilience,
    checked_with_methods,
)
from ccg._errors import InvalidTokenError
from ccg.core import (
    Event,
    InvalidToken,
    Limits,
    Now,
    OAuthToken,
    Policy,
    ResiliencePolicy,
    TokenRequestSpec,
    TokenSource,
    initial_state,
)
from ccg.interp._cell import TokenCell
from ccg.interp._clock import Clock

__all__ = ["new_cell"]


def new_cell(
    request: TokenRequestSpec,
    *,
    clock: Clock,
    entropy: Callable[[], float],
    clock_skew: float,
    provider: object,
    on_update: object,
    token: OAuthToken | None,
    limits: Limits,
    token_types: tuple[str, ...],
    resilience: ResiliencePolicy,
    emit: Callable[[tuple[Event, ...]], None],
) -> TokenCell:
    """A cell for these settings; `ConfigurationError` (or `InvalidTokenError`) naming the
    option that is wrong. `source` and `notify_updates` follow the callables given."""
    checked_with_methods(
        "clock", clock, ["monotonic", "time"], "see ccg.Clock (e.g. ccg.testing.FakeClock())"
    )
    checked_callable("entropy", entropy)
    checked_callable("o_auth_token_provider", provider)
    checked_callable("o_auth_on_token_update", on_update)
    policy = Policy(
        request=request,
        clock_skew=checked_clock_skew(clock_skew),
        source=TokenSource.ENDPOINT if provider is None else TokenSource.PROVIDER,
        notify_updates=on_update is not None,
        limits=checked_limits("limits", limits),
        token_types=tuple(t.lower() for t in token_types),
        resilience=checked_resilience("resilience", resilience),
    )
    now = Now(monotonic=clock.monotonic(), wall=clock.time(), entropy=entropy())
    started = initial_state(policy, token, now)
    if not isinstance(started, Success):
        failure = started.failure()
        assert isinstance(failure, InvalidToken)  # the only failure of initial_state
        raise InvalidTokenError(failure)
    return TokenCell(policy, started.unwrap(), clock, entropy, emit)
