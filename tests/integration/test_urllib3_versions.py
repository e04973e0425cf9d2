"""The transport's tests on the oldest urllib3 the project allows, as well as the newest.

The environment has the newest (the suite itself runs on it). This test installs the
oldest, 2.2.0, into `.cache/urllib3-2.2.0/` in the repository (git-ignored; reused when
present) and runs the transport's test modules in a subprocess with that folder first
on `PYTHONPATH`: the routed fast path, the bounded reads, the watchdog. Without PyPI
it skips, except under CI (`CI=true`), where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Final

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OLDEST: Final = "2.2.0"
_ROOT: Final = Path(__file__).resolve().parents[2]
_CACHE: Final = _ROOT / ".cache" / f"urllib3-{OLDEST}"
_MODULES: Final = (
    "tests/integration/test_urllib3_transport.py",
    "tests/integration/test_bounded_reads.py",
    "tests/integration/test_urllib3_tls.py",
)
_RUN: Final = """
import sys, urllib3, pytest
print("urllib3", urllib3.__version__, urllib3.__file__, flush=True)
sys.exit(pytest.main(["-q", "-p", "no:randomly", *sys.argv[1:]]))
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"urllib3 {OLDEST} could not be installed under CI: {reason}")
    pytest.skip(f"urllib3 {OLDEST} could not be installed (no PyPI?): {reason}")


def _oldest_urllib3() -> Path:
    """The folder holding urllib3 `OLDEST`, installed with pip --target on first use."""
    if (_CACHE / f"urllib3-{OLDEST}.dist-info").is_dir():
        return _CACHE
    partial = _CACHE.with_name(f"{_CACHE.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--no-deps",
                "--target",
                str(partial),
                f"urllib3=={OLDEST}",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(partial, ignore_errors=True)
        _unavailable("pip ran past 240 s")
        raise  # pragma: no cover - _unavailable raises
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        _unavailable(done.stderr.strip()[-2000:] or f"pip exited {done.returncode}")
    try:
        partial.rename(_CACHE)  # whole or not at all: a cut install is never reused
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)  # another run put it there first
    assert (_CACHE / f"urllib3-{OLDEST}.dist-info").is_dir()
    return _CACHE


def test_the_oldest_urllib3_tested_is_the_floor_of_the_dependency() -> None:
    """If the project raises its floor, OLDEST must follow (and the other way round)."""
    project = tomllib.loads((_ROOT / "pyproject.toml").read_text())["project"]
    [spec] = [dep for dep in project["dependencies"] if re.match(r"urllib3\b", dep)]
    floor = re.search(r">=\s*([\d.]+)", spec)
    assert floor is not None, spec
    assert OLDEST.removesuffix(".0") == floor.group(1).removesuffix(".0"), spec
    assert re.search(r"<\s*3\b", spec), spec


def test_the_transport_tests_pass_on_the_oldest_urllib3() -> None:
    target = _oldest_urllib3()
    path = [str(target), str(_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {key: value for key, value in os.environ.items() if not key.startswith("COV_CORE_")}
    env["PYTHONPATH"] = os.pathsep.join(path)
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *_MODULES],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    first = done.stdout.splitlines()[0] if done.stdout else ""
    _, version, location = [*first.split(" ", 2), "", ""][:3]
    assert version == OLDEST, output[-3000:]
    assert Path(location).is_relative_to(target), first
    assert done.returncode == 0, output[-6000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), summary
    assert not re.search(r"failed|error", summary), summary
    sys.stdout.write(f"urllib3 {version}: {summary}\n")


@pytest.mark.parametrize(("ci", "outcome"), [("true", "fail"), ("", "skip")])
def test_without_pypi_it_skips_except_under_ci(
    ci: str, outcome: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_pypi(command: list[str], **_kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    module = sys.modules[__name__]
    monkeypatch.setattr(module, "_CACHE", tmp_path / f"urllib3-{OLDEST}")
    monkeypatch.setattr(subprocess, "run", no_pypi)
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match="No matching distribution"):
        _oldest_urllib3()
    assert list(tmp_path.iterdir()) == []  # nothing half-installed left behind
