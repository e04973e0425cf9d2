"""The benchmark harness runs (a smoke run on its Python server); speed is not asserted here."""

from __future__ import annotations

import pytest

from benchmarks.smoke import run_smoke


@pytest.mark.slow
@pytest.mark.integration
def test_the_benchmark_harness_runs_every_family() -> None:
    run_smoke()
