"""`python -m ccg demo` runs end to end against the real Authlib server and exits 0."""

from __future__ import annotations

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
    assert result.stderr == ""


def test_cli_requires_a_command() -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
