"""The interop harness itself: Node.js and package checks, starting servers that misbehave.

A server that cannot run must skip its cases *with the reason*, never pass them silently;
these cases drive `prepare_node` with stand-in `node` and `npm` programs to show each reason,
`start_server` with programs that exit or never listen, and `ServerPool` with runtimes that
are missing or too old.
"""

from __future__ import annotations

import dataclasses
import json
import stat
import sys
import time
from pathlib import Path

import pytest

from tests.interop._catalogue import SERVERS, AuthOutcome, Method, Runtime, server_named
from tests.interop._processes import (
    MIN_NODE,
    PINNED,
    SERVERS_DIR,
    NodeRuntime,
    ServerPool,
    Unavailable,
    prepare_node,
    start_server,
)

pytestmark = pytest.mark.integration


def _program(folder: Path, name: str, script: str) -> str:
    """An executable shell script standing in for `name`, in `folder`/bin."""
    (folder / "bin").mkdir(exist_ok=True)
    path = folder / "bin" / name
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _installed(directory: Path, versions: dict[str, str]) -> None:
    for name, version in versions.items():
        package = directory / "node_modules" / name
        package.mkdir(parents=True)
        (package / "package.json").write_text(json.dumps({"version": version}), "utf-8")


def test_without_node_the_reason_is_given(tmp_path: Path) -> None:
    assert prepare_node(tmp_path, which=lambda name: None) == Unavailable(
        "Node.js is not installed (no `node` on PATH)"
    )


def test_an_old_node_is_refused_with_its_version(tmp_path: Path) -> None:
    node = _program(tmp_path, "node", "echo v14.21.3")
    result = prepare_node(tmp_path / "node", which=lambda name: node if name == "node" else None)
    wanted = ".".join(map(str, MIN_NODE))
    assert result == Unavailable(f"Node.js 14.21 is older than {wanted}")


def test_without_npm_the_reason_is_given(tmp_path: Path) -> None:
    node = _program(tmp_path, "node", "echo v20.20.2")
    result = prepare_node(tmp_path / "node", which=lambda name: node if name == "node" else None)
    assert result == Unavailable("npm is not installed (no `npm` on PATH)")


def test_a_failed_npm_install_gives_its_exit_status_and_message(tmp_path: Path) -> None:
    programs = {
        "node": _program(tmp_path, "node", "echo v20.20.2"),
        "npm": _program(tmp_path, "npm", "echo 'npm error code E404' >&2; exit 1"),
    }
    result = prepare_node(tmp_path / "node", which=programs.get)
    assert result == Unavailable("npm install failed (exit 1): npm error code E404")


def test_an_install_that_leaves_a_package_out_is_refused(tmp_path: Path) -> None:
    programs = {
        "node": _program(tmp_path, "node", "echo v22.3.0"),
        "npm": _program(tmp_path, "npm", "exit 0"),
    }
    result = prepare_node(tmp_path / "node", which=programs.get)
    assert isinstance(result, Unavailable)
    assert result.reason.startswith("npm install left out ")
    for name, version in PINNED.items():
        assert f"{name}@{version}" in result.reason


def test_an_install_that_hangs_is_given_up(tmp_path: Path) -> None:
    programs = {
        "node": _program(tmp_path, "node", "echo v20.20.2"),
        "npm": _program(tmp_path, "npm", "exec sleep 30"),
    }
    started = time.monotonic()
    result = prepare_node(tmp_path / "node", which=programs.get, npm_timeout=0.5)
    assert result == Unavailable("npm install did not finish within 0.5 s")
    assert time.monotonic() - started < 10


def test_pinned_packages_already_present_are_reused_without_npm(tmp_path: Path) -> None:
    directory = tmp_path / "node"
    _installed(directory, PINNED)
    node = _program(tmp_path, "node", "echo v20.20.2")
    result = prepare_node(directory, which=lambda name: node if name == "node" else None)
    assert result == NodeRuntime(node=node, version=(20, 20), directory=directory)
    copied = sorted(p.name for p in (directory / "servers").iterdir())
    assert copied == sorted(p.name for p in SERVERS_DIR.glob("*.mjs"))


def test_a_package_at_another_version_is_installed_again(tmp_path: Path) -> None:
    directory = tmp_path / "node"
    _installed(directory, dict.fromkeys(PINNED, "0.0.1"))
    programs = {
        "node": _program(tmp_path, "node", "echo v20.20.2"),
        "npm": _program(tmp_path, "npm", "echo npm was run >&2; exit 3"),
    }
    result = prepare_node(directory, which=programs.get)
    assert result == Unavailable("npm install failed (exit 3): npm was run")
    manifest = json.loads((directory / "package.json").read_text("utf-8"))
    assert manifest["dependencies"] == PINNED


def test_the_pins_are_exact_versions() -> None:
    assert PINNED == {"oidc-provider": "9.13.3", "@node-oauth/oauth2-server": "5.3.0"}
    lock = json.loads((SERVERS_DIR / "package-lock.json").read_text("utf-8"))
    for name, version in PINNED.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_a_server_that_exits_before_listening_is_reported_with_its_log(tmp_path: Path) -> None:
    spec = dataclasses.replace(SERVERS[0], name="broken", label="a broken server")
    command = [sys.executable, "-c", "print('cannot bind: oops'); raise SystemExit(3)"]
    with pytest.raises(RuntimeError, match=r"(?s)exited with status 3 before listening.*oops"):
        start_server(spec, command, cwd=tmp_path, env={}, log_path=tmp_path / "log")


def test_a_server_that_never_listens_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    spec = dataclasses.replace(SERVERS[0], name="silent", label="a silent server")
    marker = tmp_path / "pid"
    script = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    command = [sys.executable, "-c", script]
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="did not listen within 2 s"):
        start_server(spec, command, cwd=tmp_path, env={}, log_path=tmp_path / "log", timeout=2.0)
    assert time.monotonic() - started < 15
    # stopped and reaped: no such process any more
    assert not Path(f"/proc/{int(marker.read_text())}").exists()


def test_exactly_the_special_credentials_on_raw_basic_servers_need_a_fallback() -> None:
    falling_back = {
        (spec.name, method, credential.value)
        for spec in SERVERS
        for (method, credential), outcome in spec.auth_outcomes.items()
        if outcome is AuthOutcome.TOKEN_AFTER_FALLBACK
    }
    assert falling_back == {
        ("node-oauth2-server", Method.DEFAULT, "special-secret"),
        ("node-oauth2-server", Method.AUTO_POST, "special-secret"),
        ("node-oauth2-server", Method.AUTO_POST, "colon-id"),
    }


# -- the pool: one start per server, reasons remembered -------------------------------------


class _Dirs:
    """A `make_dir` that counts its calls (one per server start)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[str] = []

    def __call__(self, name: str) -> Path:
        self.made.append(name)
        path = self.root / f"{name}-{len(self.made)}"
        path.mkdir()
        return path


def test_a_node_too_old_for_a_server_skips_that_server_only(tmp_path: Path) -> None:
    old = NodeRuntime(node=str(tmp_path / "no-node"), version=(18, 19), directory=tmp_path)
    pool = ServerPool(_Dirs(tmp_path), node=lambda: old)
    oidc = server_named("oidc-provider-opaque")
    assert pool.get(oidc) == Unavailable("Node.js 18.19 is older than 20.18")
    # The raw-Basic server runs on Node 16+: it is tried (and here fails: no such node).
    with pytest.raises(RuntimeError, match="could not start"):
        pool.get(server_named("node-oauth2-server"))
    assert pool.stop_all() == {}


def test_node_is_prepared_once_and_its_reason_given_to_every_node_server(tmp_path: Path) -> None:
    calls: list[str] = []

    def missing() -> Unavailable:
        calls.append("prepare")
        return Unavailable("Node.js is not installed (no `node` on PATH)")

    pool = ServerPool(_Dirs(tmp_path), node=missing)
    for spec in SERVERS:
        if spec.runtime is Runtime.NODE:
            assert pool.get(spec) == Unavailable("Node.js is not installed (no `node` on PATH)")
    assert calls == ["prepare"]


def test_a_missing_python_package_skips_with_the_install_command(tmp_path: Path) -> None:
    spec = dataclasses.replace(SERVERS[0], python_modules=("flask", "no_such_module_here"))
    pool = ServerPool(_Dirs(tmp_path))
    assert pool.get(spec) == Unavailable(
        "no_such_module_here not installed (pip install -e '.[interop]')"
    )


def test_a_server_that_failed_to_start_is_not_started_again(tmp_path: Path) -> None:
    spec = dataclasses.replace(SERVERS[0], name="missing", program="no_such_program.py")
    dirs = _Dirs(tmp_path)
    pool = ServerPool(dirs)
    with pytest.raises(RuntimeError, match="exited with status 2 before listening") as first:
        pool.get(spec)
    with pytest.raises(RuntimeError) as second:
        pool.get(spec)
    assert second.value is first.value
    assert dirs.made == ["missing"]
