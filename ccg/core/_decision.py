"""`Decision`: the outcome of one step, with the caller's answer apart from the shell's work."""

from __future__ import annotations

import msgspec

from ccg.core._answers import Answer
from ccg.core._effects import Effect
from ccg.core._events import Event
from ccg.core._state import TokenState

__all__ = ["Decision"]


class Decision(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The next state; what the stepping caller gets; the work to run; what happened.

    "Use the held token *and* fetch a new one" is an answer plus work; "fail *and*
    remember the failure" is an answer plus a new state.
    """

    state: TokenState
    """The state after the step."""
    answer: Answer | None = None
    """For the caller who stepped the input; None: nothing yet (run the work, or ask again)."""
    work: tuple[Effect, ...] = ()
    """Effects for the shell to run, in order."""
    events: tuple[Event, ...] = ()
    """Facts about the step, for logs and metrics."""
