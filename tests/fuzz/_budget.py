"""How many examples each fuzz test runs: a share of the loaded Hypothesis profile's.

The profile (`tests/conftest.py`) sets `max_examples`: 300 by default, 600 on CI, 50 for
`dev`, and 30,000 for the long `fuzz` run. Each fuzz test runs a share of it: the decoders
half (their examples take milliseconds), the state machines and the client 15% (each of
their examples is a run of up to 30 or 40 steps). So the default suite runs them in about
20 seconds, and the `fuzz` run gives each decoder test 15,000 examples and each machine
4,500 runs: about 130,000 examples in all.
"""

from __future__ import annotations

from typing import Final

from hypothesis import settings

DECODER_SHARE: Final = 0.5
"""Of the profile's examples, for a test of a decoder (one call per example)."""
MACHINE_SHARE: Final = 0.15
"""Of the profile's examples, for a state machine (a run of many steps per example)."""


def fuzz_settings(share: float = 1.0, *, stateful_step_count: int | None = None) -> settings:
    """The loaded profile, with `share` of its `max_examples` (at least 10), and for a
    state machine, `stateful_step_count` steps at most per example."""
    profile = settings.default
    assert profile is not None
    examples = max(10, round(profile.max_examples * share))
    if stateful_step_count is None:
        return settings(profile, max_examples=examples)
    return settings(profile, max_examples=examples, stateful_step_count=stateful_step_count)
