"""`python -m ccg demo` runs end to end against the real Authlib server and exits 0."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ccg._cli import main


@pytest.mark.integration
def test_demo_runs_the_seed_flow_and_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ccg", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. first call    GET /api/me -> 200" in out
    assert "token requests so far: 1" in out
    assert "32 x 200, 1 token request" in out
    assert "on_token_update fired 2x" in out
    assert "error=invalid_client (HTTP 401)" in out
    # The resilience steps: every call during the failing renewal got 200, the 429's
    # Retry-After was waited out, and the revoked token was replaced by one 401 replay.
    renewal = re.search(r"(\d+) calls meanwhile: (\d+) x 200; renewed after 3 token requests", out)
    assert renewal is not None, out
    assert renewal.group(1) == renewal.group(2)
    waited = re.search(r"Retry-After: 1 -> the retry waited ([0-9.]+) s -> 200", out)
    assert waited is not None, out
    assert float(waited.group(1)) >= 1.0
    assert "next call: HTTP 401 invalid_token, 1 new token, replayed once -> 200" in out
    assert result.stderr == ""


def test_cli_requires_a_command() -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
