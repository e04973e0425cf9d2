"""`ccg token`, driven as a user drives it: `python -m ccg token ...` (and the `ccg` console
script) in a subprocess, against the real Authlib server on 127.0.0.1, plus recording
servers where what went over the wire matters (the auth form, the extra parameters,
the metadata URLs) or where a server misbehaves on purpose."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, quote

import pytest

from ccg import _token_command
from ccg._cli import main
from ccg._demo.authorization_server import AuthorizationServer
from tests.integration._support import (
    SERVER_CLIENTS,
    RecordedRequest,
    RecordingServer,
    Reply,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret"
TIMEOUT = 60.0
TOKEN_JSON = [("Content-Type", "application/json")]


@pytest.fixture
def server() -> Iterator[AuthorizationServer]:
    with AuthorizationServer(clients=SERVER_CLIENTS) as running:
        yield running


def ccg_token(
    *args: str,
    secret: str | None = SECRET,
    stdin: str | None = None,
    command: tuple[str, ...] = (sys.executable, "-m", "ccg"),
) -> subprocess.CompletedProcess[str]:
    """Run `ccg token ARGS` with the secret in CCG_CLIENT_SECRET (unless None) and `stdin`
    (else /dev/null) on its stdin."""
    env = {k: v for k, v in os.environ.items() if k != "CCG_CLIENT_SECRET"}
    if secret is not None:
        env["CCG_CLIENT_SECRET"] = secret
    return subprocess.run(
        [*command, "token", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failed run's stderr, checked to be a single `ccg ...: error: ...` line."""
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stderr.endswith("\n")
    assert " error: " in lines[0]
    assert "Traceback" not in lines[0]
    return lines[0]


def call_api(server: AuthorizationServer, access_token: str) -> tuple[int, object]:
    """GET /api/me with `access_token`: the server's own verdict on the token."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/api/me", headers={"Authorization": f"Bearer {access_token}"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def token_reply(request: RecordedRequest) -> Reply:
    body = {"access_token": "recorded-token", "token_type": "Bearer", "expires_in": 60}
    return 200, TOKEN_JSON, json.dumps(body).encode()


def form(request: RecordedRequest) -> dict[str, list[str]]:
    return parse_qs(request.body.decode(), keep_blank_values=True)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# -- success ---------------------------------------------------------------------------


def test_prints_the_token_as_json_with_its_computed_expiry(server: AuthorizationServer) -> None:
    before = time.time()
    result = ccg_token("--token-url", server.token_url, "--client-id", "test-client")
    after = time.time()

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    shown = json.loads(result.stdout)
    assert set(shown) == {
        "access_token",
        "token_type",
        "expires_in",
        "expiry",
        "expires_at",
        "scope",
    }
    assert shown["token_type"] == "Bearer"
    assert shown["expires_in"] == 3600
    assert shown["scope"] == "read write"
    assert before + 3600 - 1 <= shown["expiry"] <= after + 3600 + 1
    expires_at = datetime.fromisoformat(shown["expires_at"])
    assert shown["expires_at"].endswith("Z")
    assert abs(expires_at.timestamp() - shown["expiry"]) < 1
    # Sorted keys, indented: the text is what json.dumps(sort_keys, indent=2) makes of it.
    assert result.stdout == json.dumps(shown, sort_keys=True, indent=2) + "\n"
    assert SECRET not in result.stdout
    assert call_api(server, shown["access_token"]) == (
        200,
        {"client_id": "test-client", "scope": "read write"},
    )


def test_a_token_without_expires_in_has_no_expiry(server: AuthorizationServer) -> None:
    result = ccg_token(
        "--token-url",
        server.token_url,
        "--client-id",
        "no-expires-in",
        secret="no-expires-secret",
    )

    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {"access_token", "token_type", "scope"}


def test_raw_prints_only_the_access_token(server: AuthorizationServer) -> None:
    result = ccg_token("--token-url", server.token_url, "--client-id", "test-client", "--raw")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.endswith("\n")
    access_token = result.stdout.removesuffix("\n")
    assert access_token
    assert "\n" not in access_token
    assert " " not in access_token
    assert call_api(server, access_token)[0] == 200


def test_the_console_script_is_the_same_command(server: AuthorizationServer) -> None:
    script = Path(sys.executable).with_name("ccg")
    if not script.exists():
        pytest.skip("the ccg console script is not installed in this environment")
    result = ccg_token(
        "--token-url",
        server.token_url,
        "--client-id",
        "test-client",
        "--raw",
        command=(str(script),),
    )

    assert result.returncode == 0, result.stderr
    assert call_api(server, result.stdout.strip())[0] == 200


@pytest.mark.parametrize(
    ("scopes", "granted"),
    [
        (["--scope", "read"], "read"),
        (["--scope", "write"], "write"),
        (["--scope", "read", "--scope", "write"], "read write"),
        (["--scope", "read write"], "read write"),
        ([], "read write"),
    ],
)
def test_scopes_are_requested_as_given(
    server: AuthorizationServer, scopes: list[str], granted: str
) -> None:
    result = ccg_token("--token-url", server.token_url, "--client-id", "test-client", *scopes)

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["scope"] == granted
    status, body = call_api(server, shown["access_token"])
    if "read" in granted.split():
        assert (status, body) == (200, {"client_id": "test-client", "scope": granted})
    else:  # /api/me needs "read"
        assert status == 403


@pytest.mark.parametrize("auth", ["auto", "basic", "basic-raw", "post"])
def test_each_auth_method_gets_a_token_from_authlib(server: AuthorizationServer, auth: str) -> None:
    result = ccg_token(
        "--token-url", server.token_url, "--client-id", "test-client", "--auth", auth, "--raw"
    )

    assert result.returncode == 0, result.stderr
    assert call_api(server, result.stdout.strip())[0] == 200


@pytest.mark.parametrize(
    ("auth", "code"), [("auto", 0), ("basic", 0), ("basic-raw", 3), ("post", 0)]
)
def test_auth_methods_differ_on_a_secret_with_a_percent_escape(
    server: AuthorizationServer, auth: str, code: int
) -> None:
    # Authlib decodes the Basic credentials: raw "a%41b" reaches it as "aAb", refused.
    result = ccg_token(
        "--token-url", server.token_url, "--client-id", "percent-client", "--auth", auth,
        secret="a%41b",
    )  # fmt: skip

    assert result.returncode == code, result.stderr
    if code:
        assert "invalid_client (HTTP 401)" in one_error_line(result)


@pytest.mark.parametrize("auth", ["auto", "basic", "basic-raw", "post"])
def test_each_auth_method_sends_its_own_form(auth: str) -> None:
    client_id, secret = "my-app", "s&c ret"
    with RecordingServer(token_reply) as recorder:
        result = ccg_token(
            "--token-url", f"{recorder.url}/token", "--client-id", client_id, "--auth", auth,
            secret=secret,
        )  # fmt: skip
        requests = recorder.requests()

    assert result.returncode == 0, result.stderr
    assert len(requests) == 1
    sent = requests[0]
    fields = form(sent)
    assert fields["grant_type"] == ["client_credentials"]
    expected_header = {
        "auto": [basic(quote(client_id, safe=""), quote(secret, safe=""))],
        "basic": [basic(quote(client_id, safe=""), quote(secret, safe=""))],
        "basic-raw": [basic(client_id, secret)],
        "post": [],
    }[auth]
    assert sent.header_values("Authorization") == expected_header
    if auth == "post":
        assert fields["client_id"] == [client_id]
        assert fields["client_secret"] == [secret]
    else:
        assert "client_secret" not in fields


def test_params_are_sent_with_the_token_request() -> None:
    with RecordingServer(token_reply) as recorder:
        result = ccg_token(
            "--token-url", f"{recorder.url}/token", "--client-id", "my-app",
            "--param", "audience=https://api.example/v1?x=1",
            "--param", "resource=a", "--param", "resource=b", "--param", "empty=",
            "--scope", "read",
        )  # fmt: skip
        requests = recorder.requests()

    assert result.returncode == 0, result.stderr
    assert len(requests) == 1
    fields = form(requests[0])
    assert fields["audience"] == ["https://api.example/v1?x=1"]
    assert fields["resource"] == ["a", "b"]
    assert fields["empty"] == [""]
    assert fields["scope"] == ["read"]


# -- the secret ------------------------------------------------------------------------


@pytest.mark.parametrize("line_end", ["\n", "\r\n", ""])
def test_the_secret_may_come_on_stdin(server: AuthorizationServer, line_end: str) -> None:
    result = ccg_token(
        "--token-url", server.token_url, "--client-id", "test-client", "--raw",
        secret=None, stdin=SECRET + line_end + ("ignored second line\n" if line_end else ""),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert call_api(server, result.stdout.strip())[0] == 200


def test_client_secret_stdin_wins_over_the_variable(server: AuthorizationServer) -> None:
    result = ccg_token(
        "--token-url", server.token_url, "--client-id", "test-client", "--client-secret-stdin",
        secret="wrong-secret", stdin=SECRET + "\n",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr


def read_until(fd: int, wanted: bytes, seconds: float) -> bytes:
    """What the terminal `fd` shows until `wanted` appears (or it closes, or time is up)."""
    seen = b""
    deadline = time.monotonic() + seconds
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_client_secret_stdin_prompts_on_a_terminal_without_echo(
    server: AuthorizationServer,
) -> None:
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CCG_CLIENT_SECRET"}
    try:
        # A new session has no controlling terminal: getpass prompts on stdin, the pty.
        process = subprocess.Popen(
            [sys.executable, "-m", "ccg", "token", "--token-url", server.token_url,
             "--client-id", "test-client", "--client-secret-stdin", "--raw"],
            stdin=terminal, stdout=subprocess.PIPE, stderr=terminal,
            env=env, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        os.close(terminal)
        try:
            prompt = read_until(controller, b"client secret for test-client: ", TIMEOUT)
            os.write(controller, SECRET.encode() + b"\n")
            out, _ = process.communicate(timeout=TIMEOUT)
            shown = prompt + read_until(controller, b"never shown", 1.0)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(TIMEOUT)
    finally:
        os.close(controller)

    assert process.returncode == 0, shown
    assert b"client secret for test-client: " in prompt
    assert SECRET.encode() not in shown
    assert call_api(server, out.decode().strip())[0] == 200


def test_the_variable_wins_over_stdin_without_the_flag(server: AuthorizationServer) -> None:
    result = ccg_token(
        "--token-url", server.token_url, "--client-id", "test-client",
        secret=SECRET, stdin="wrong-secret\n",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("secret", "stdin", "problem"),
    [
        (None, None, "the first line of stdin is empty"),
        (None, "\n", "the first line of stdin is empty"),
        ("", None, "CCG_CLIENT_SECRET is empty"),
    ],
)
def test_no_secret_is_a_usage_error(
    server: AuthorizationServer, secret: str | None, stdin: str | None, problem: str
) -> None:
    result = ccg_token(
        "--token-url", server.token_url, "--client-id", "test-client", secret=secret, stdin=stdin
    )

    assert result.returncode == 2
    assert problem in one_error_line(result)
    assert server.token_requests() == 0


@pytest.mark.parametrize(
    "arguments",
    [
        ["--client-secret", "hunter2-secret"],
        ["--client-secret=hunter2-secret"],
        ["--secret", "hunter2-secret"],
        ["--client-secret-stdin=hunter2-secret"],
        ["hunter2-secret"],
        ["--client-sec", "hunter2-secret"],
    ],
)
def test_a_secret_on_the_command_line_is_refused_and_not_repeated(
    server: AuthorizationServer, arguments: list[str]
) -> None:
    result = ccg_token("--token-url", server.token_url, "--client-id", "test-client", *arguments)

    assert result.returncode == 2
    line = one_error_line(result)
    assert "hunter2" not in line
    assert server.token_requests() == 0


def test_the_help_names_no_secret_option() -> None:
    result = ccg_token("--help")

    assert result.returncode == 0
    assert result.stderr == ""
    assert "--client-secret " not in result.stdout
    assert "--client-secret-stdin" in result.stdout
    assert "CCG_CLIENT_SECRET" in result.stdout
    assert "exit codes:" in result.stdout
    for code in ("0", "1", "2", "3", "4"):
        assert f"\n  {code}  " in result.stdout


def test_the_secret_stays_out_of_the_output_of_a_server_that_echoes_it() -> None:
    client_id, secret = "my-app", "s3cr3t&value"

    def echo(request: RecordedRequest) -> Reply:
        said = f"got {request.body.decode()} with {request.header_values('Authorization')}"
        body = {"error": "invalid_request", "error_description": said + " " + secret}
        return 400, TOKEN_JSON, json.dumps(body).encode()

    with RecordingServer(echo) as recorder:
        for auth in ("basic", "post"):
            result = ccg_token(
                "--token-url", f"{recorder.url}/token", "--client-id", client_id, "--auth", auth,
                "--verbose", secret=secret,
            )  # fmt: skip

            assert result.returncode == 3
            assert result.stdout == ""
            shown = result.stderr
            assert "ccg token: error: invalid_request (HTTP 400): got " in shown
            for form_of_secret in (
                secret,
                quote(secret, safe=""),
                base64.b64encode(f"{client_id}:{quote(secret, safe='')}".encode()).decode(),
            ):
                assert form_of_secret not in shown


# -- failures ---------------------------------------------------------------------------


def test_a_wrong_secret_is_an_oauth_error(server: AuthorizationServer) -> None:
    result = ccg_token(
        "--token-url", server.token_url, "--client-id", "test-client", secret="wrong-secret"
    )

    assert result.returncode == 3
    line = one_error_line(result)
    assert line.startswith("ccg token: error: invalid_client (HTTP 401)")
    assert "wrong-secret" not in line


def test_a_refused_scope_is_an_oauth_error(server: AuthorizationServer) -> None:
    result = ccg_token(
        "--token-url", server.token_url, "--client-id", "test-client", "--scope", "admin"
    )

    assert result.returncode == 3
    assert one_error_line(result).startswith("ccg token: error: invalid_scope (HTTP 400)")


def test_a_bare_401_is_a_refusal_too() -> None:
    with RecordingServer(
        lambda _: (401, [("Content-Type", "text/html")], b"<h1>no</h1>")
    ) as recorder:
        result = ccg_token("--token-url", f"{recorder.url}/token", "--client-id", "my-app")

    assert result.returncode == 3
    assert "HTTP 401" in one_error_line(result)


def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as bound:  # bound, never listening: every connect is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        result = ccg_token("--token-url", f"http://127.0.0.1:{port}/token", "--client-id", "my-app")

    assert result.returncode == 4
    line = one_error_line(result)
    assert "unreachable" in line
    assert "next token request" not in line


def test_a_reply_that_is_not_a_token_is_a_network_error() -> None:
    with RecordingServer(lambda _: (200, TOKEN_JSON, b'{"token": "nope"}')) as recorder:
        result = ccg_token("--token-url", f"{recorder.url}/token", "--client-id", "my-app")

    assert result.returncode == 4
    assert "HTTP 200" in one_error_line(result)


def test_a_hostile_error_description_stays_one_line() -> None:
    description = "bad\nccg token: ok\x1b[2J\u202eevil\r"

    def hostile(_: RecordedRequest) -> Reply:
        body = {"error": "invalid_client", "error_description": description}
        return 401, TOKEN_JSON, json.dumps(body).encode()

    with RecordingServer(hostile) as recorder:
        result = ccg_token(
            "--token-url", f"{recorder.url}/token", "--client-id", "my-app", "--auth", "basic"
        )

    assert result.returncode == 3
    line = one_error_line(result)
    assert "\x1b" not in line
    assert "\u202e" not in line
    assert "\r" not in result.stderr
    assert "invalid_client (HTTP 401): bad\\nccg token: ok\\x1b[2J\\u202eevil\\r" in line


URL = ["--token-url", "https://a.example/t"]
GOOD = [*URL, "--client-id", "x"]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--client-id", "my-app"], "one of the arguments --token-url --issuer is required"),
        (URL, "the following arguments are required: --client-id"),
        ([*GOOD, "--issuer", "https://a.example"], "not allowed with argument"),
        ([*GOOD, "--auth", "jwt"], "argument --auth: invalid choice"),
        ([*GOOD, "--param", "audience"], "--param: expected NAME=VALUE, got one with no '='"),
        ([*GOOD, "--param", "=v"], "--param: expected NAME=VALUE, got one with an empty NAME"),
        ([*GOOD, "--param", "scope=a"], "--param: 'scope' is set by ccg"),
        ([*GOOD, "--scope", 'a"b'], "--scope: "),
        ([*URL, "--client-id", "a:b", "--auth", "basic-raw"], "--client-id: contains ':'"),
        ([*URL, "--client-id", ""], "--client-id: must not be empty"),
        (["--token-url", "http://auth.invalid/t", "--client-id", "x"], "--allow-insecure-http"),
        (["--token-url", "ftp://auth.invalid/t", "--client-id", "x"], "--token-url: "),
        (["--issuer", "https://auth.invalid/?q=1", "--client-id", "x"], "--issuer: an issuer has"),
        (["--issuer", "https://auth.invalid/#f", "--client-id", "x"], "--issuer: an issuer has"),
        (["--issuer", "http://auth.invalid", "--client-id", "x"], "--issuer: http:// to auth"),
    ],
)
def test_usage_errors_exit_2(arguments: list[str], problem: str) -> None:
    result = ccg_token(*arguments)

    assert result.returncode == 2
    assert problem in one_error_line(result)


# -- discovery --------------------------------------------------------------------------


class MetadataServer:
    """A recording server that serves metadata documents by path and answers POST /token."""

    def __init__(
        self,
        documents: Callable[[str], dict[str, dict[str, object]]],
        token: Callable[[RecordedRequest], Reply] = token_reply,
    ) -> None:
        self._documents = documents
        self._token = token
        self.recorder = RecordingServer(self._answer)

    def _answer(self, request: RecordedRequest) -> Reply:
        if request.method == "POST" and request.path == "/token":
            return self._token(request)
        document = self._documents(self.recorder.url).get(request.path)
        if document is None:
            return 404, [("Content-Type", "text/plain")], b"not found"
        return 200, TOKEN_JSON, json.dumps(document).encode()

    @property
    def url(self) -> str:
        return self.recorder.url

    def paths(self) -> list[str]:
        return [r.path for r in self.recorder.requests() if r.method == "GET"]

    def posts(self) -> list[RecordedRequest]:
        return [r for r in self.recorder.requests() if r.method == "POST"]

    def __enter__(self) -> MetadataServer:
        self.recorder.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.recorder.stop()


RFC8414 = "/.well-known/oauth-authorization-server"
OIDC = "/.well-known/openid-configuration"


def test_issuer_metadata_leads_to_the_real_token_endpoint(server: AuthorizationServer) -> None:
    with MetadataServer(
        lambda base: {RFC8414: {"issuer": base, "token_endpoint": server.token_url}}
    ) as metadata:
        result = ccg_token("--issuer", metadata.url, "--client-id", "test-client", "--raw")
        paths = metadata.paths()

    assert result.returncode == 0, result.stderr
    assert paths == [RFC8414]
    assert call_api(server, result.stdout.strip())[0] == 200
    assert server.token_requests() == 1


def test_issuer_with_a_path_falls_back_to_openid_configuration(
    server: AuthorizationServer,
) -> None:
    with MetadataServer(
        lambda base: {
            f"/tenant/a{OIDC}": {"issuer": f"{base}/tenant/a", "token_endpoint": server.token_url}
        }
    ) as metadata:
        result = ccg_token("--issuer", f"{metadata.url}/tenant/a", "--client-id", "test-client")
        paths = metadata.paths()

    assert result.returncode == 0, result.stderr
    assert paths == [f"{RFC8414}/tenant/a", f"/tenant/a{OIDC}"]
    assert json.loads(result.stdout)["scope"] == "read write"


@pytest.mark.parametrize(
    ("methods", "expected"),
    [
        (None, ["basic"]),
        (["client_secret_basic"], ["basic"]),
        (["client_secret_post"], ["post"]),
        (["client_secret_post", "private_key_jwt"], ["post"]),
        (["client_secret_basic", "client_secret_post"], ["basic", "post"]),
    ],
)
def test_auto_follows_the_metadata_auth_methods(
    methods: list[str] | None, expected: list[str]
) -> None:
    def documents(base: str) -> dict[str, dict[str, object]]:
        document: dict[str, object] = {"issuer": base, "token_endpoint": f"{base}/token"}
        if methods is not None:
            document["token_endpoint_auth_methods_supported"] = methods
        return {RFC8414: document}

    def refuse_basic(request: RecordedRequest) -> Reply:
        if request.header_values("Authorization"):
            return 401, TOKEN_JSON, b'{"error": "invalid_client"}'
        return token_reply(request)

    with MetadataServer(documents, refuse_basic) as metadata:
        result = ccg_token("--issuer", metadata.url, "--client-id", "my-app")
        posts = metadata.posts()

    sent = ["basic" if r.header_values("Authorization") else "post" for r in posts]
    assert sent == expected
    if expected[-1] == "post":
        assert result.returncode == 0, result.stderr
        assert form(posts[-1])["client_secret"] == [SECRET]
    else:
        assert result.returncode == 3
        assert "invalid_client (HTTP 401)" in one_error_line(result)


def test_an_explicit_auth_wins_over_the_metadata() -> None:
    with MetadataServer(
        lambda base: {
            RFC8414: {
                "issuer": base,
                "token_endpoint": f"{base}/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        }
    ) as metadata:
        result = ccg_token("--issuer", metadata.url, "--client-id", "my-app", "--auth", "basic")
        posts = metadata.posts()

    assert result.returncode == 0, result.stderr
    assert [len(r.header_values("Authorization")) for r in posts] == [1]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (
            {"issuer": "https://evil.example", "token_endpoint": "BASE/token"},
            "is for issuer 'https://evil.example', not http://127.0.0.1:",
        ),
        ({"issuer": "BASE/", "token_endpoint": "BASE/token"}, "RFC 8414 §3.3"),
        ({"issuer": "BASE"}, "has no token_endpoint"),
        ({"issuer": "BASE", "token_endpoint": 5}, "is malformed: Expected `str | null`"),
        ({"token_endpoint": "BASE/token"}, "is malformed: Object missing required field `issuer`"),
        (
            {"issuer": "BASE", "token_endpoint": "http://auth.invalid/t"},
            "unusable token_endpoint 'http://auth.invalid/t'",
        ),
        (None, "no authorization server metadata for http://127.0.0.1:"),
    ],
)
def test_unusable_metadata_is_a_network_error(
    document: dict[str, object] | None, problem: str
) -> None:
    def documents(base: str) -> dict[str, dict[str, object]]:
        if document is None:
            return {}
        filled = {
            k: v.replace("BASE", base) if isinstance(v, str) else v for k, v in document.items()
        }
        return {RFC8414: filled}

    with MetadataServer(documents) as metadata:
        result = ccg_token("--issuer", metadata.url, "--client-id", "my-app")
        posts = metadata.posts()

    assert result.returncode == 4
    assert problem in one_error_line(result)
    assert posts == []


def test_an_unreachable_issuer_is_a_network_error() -> None:
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        result = ccg_token("--issuer", f"http://127.0.0.1:{port}", "--client-id", "my-app")

    assert result.returncode == 4
    assert "cannot read the issuer's metadata" in one_error_line(result)


# -- in process -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "urls"),
    [
        (
            "https://a.example",
            ("https://a.example/.well-known/oauth-authorization-server",
             "https://a.example/.well-known/openid-configuration"),
        ),
        (
            "https://a.example/",
            ("https://a.example/.well-known/oauth-authorization-server",
             "https://a.example/.well-known/openid-configuration"),
        ),
        (
            "https://a.example:8443/realms/x/",
            ("https://a.example:8443/.well-known/oauth-authorization-server/realms/x",
             "https://a.example:8443/realms/x/.well-known/openid-configuration"),
        ),
    ],
)  # fmt: skip
def test_metadata_urls(issuer: str, urls: tuple[str, str]) -> None:
    assert _token_command.metadata_urls(issuer) == urls


def test_main_in_process(
    server: AuthorizationServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CCG_CLIENT_SECRET", SECRET)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))

    code = main(["token", "--token-url", server.token_url, "--client-id", "test-client", "-v"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["token_type"] == "Bearer"
    assert err.startswith("ccg: ")
    assert SECRET not in err


def test_main_reads_stdin_without_a_buffer(
    server: AuthorizationServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("CCG_CLIENT_SECRET", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))

    code = main(["token", "--token-url", server.token_url, "--client-id", "test-client", "--raw"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert call_api(server, out.strip())[0] == 200


def test_a_secret_that_is_not_utf8_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CCG_CLIENT_SECRET", raising=False)
    stdin = io.TextIOWrapper(io.BytesIO(b"\xff\xfe\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)

    code = main(["token", "--token-url", "https://a.example/t", "--client-id", "x"])

    assert code == 2
    assert capsys.readouterr().err == "ccg token: error: the client secret on stdin is not UTF-8\n"
