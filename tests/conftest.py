"""Shared test settings: Hypothesis profiles (`ci`, derandomized, is the default when CI is set)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=300, deadline=None)
settings.register_profile(
    "ci",
    max_examples=600,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)
# The long fuzz run (tests/fuzz/RESULTS.md): each fuzz test takes a share of max_examples
# (tests/fuzz/_budget.py), over 100,000 examples in all. Not for the whole suite.
settings.register_profile(
    "fuzz",
    max_examples=30_000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default")
)
