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
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default")
)
