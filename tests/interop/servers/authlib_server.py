"""Authlib 1.9's authorization server (Flask) for the interop suite, on 127.0.0.1.

Run as a program. Environment: INTEROP_CLIENTS (JSON list of {client_id, client_secret,
scope, grants}), INTEROP_SCOPES (the scopes it knows, space-separated), INTEROP_TOKEN_TTL
(seconds). Prints `LISTENING <port>` once it listens on
an ephemeral port.

- POST /oauth/token: client_credentials; client_secret_basic (Authlib `unquote`s the id and
  secret: RFC 6749 §2.3.1) or client_secret_post.
- GET /api/me: the protected endpoint, checked against the server's own token store:
  200 {client_id, scope} or 401 invalid_token.
- GET /_interop/token-requests: every successful token request, {client_id, params}.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from typing import Any, cast

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

TTL = int(os.environ.get("INTEROP_TOKEN_TTL", "3600"))
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class Client:
    def __init__(self, client_id: str, secret: str, scope: str, grants: list[str]) -> None:
        self.client_id = client_id
        self.secret = secret
        self.scope = scope
        self.grants = grants

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        # None makes Authlib answer invalid_scope.
        if not scope:
            return self.scope
        return scope if set(scope_to_list(scope)) <= set(self.scope.split()) else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(self.secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grants


class Token:
    def __init__(self, client_id: str, scope: str, expires_in: int) -> None:
        self.client_id = client_id
        self.scope = scope
        self.expires_in = expires_in
        self.issued_at = time.time()

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return False


CLIENTS = {
    c["client_id"]: Client(c["client_id"], c["client_secret"], c["scope"], c["grants"])
    for c in json.loads(os.environ.get("INTEROP_CLIENTS", "[]"))
}
TOKENS: dict[str, Token] = {}
TOKEN_REQUESTS: list[dict[str, Any]] = []
LOCK = threading.Lock()


class ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS


class Validator(BearerTokenValidator):  # type: ignore[misc]
    def authenticate_token(self, token_string: str) -> Token | None:
        with LOCK:
            return TOKENS.get(token_string)


def save_token(token: dict[str, Any], oauth_request: Any) -> None:
    client_id = oauth_request.client.client_id
    params = {name: request.form.getlist(name) for name in request.form if name != "client_secret"}
    with LOCK:
        TOKENS[token["access_token"]] = Token(
            client_id, token.get("scope", ""), int(token["expires_in"])
        )
        TOKEN_REQUESTS.append({"client_id": client_id, "params": params})


app = Flask(__name__)
app.config["OAUTH2_SCOPES_SUPPORTED"] = os.environ.get("INTEROP_SCOPES", "read").split()
app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"client_credentials": TTL}
server = AuthorizationServer(app, query_client=CLIENTS.get, save_token=save_token)
server.register_grant(ClientCredentials)
require_oauth = ResourceProtector()
require_oauth.register_token_validator(Validator())  # pyright: ignore[reportUnknownMemberType]


@app.post("/oauth/token")
def token() -> Any:
    return server.create_token_response()  # pyright: ignore[reportUnknownMemberType]


@app.get("/api/me")
def me() -> Any:
    try:
        found = cast(Token, require_oauth.acquire_token())  # pyright: ignore[reportUnknownMemberType]
    except OAuth2Error:
        return (
            jsonify(error="invalid_token"),
            401,
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return jsonify(client_id=found.client_id, scope=found.scope)


@app.get("/_interop/token-requests")
def token_requests() -> Any:
    with LOCK:
        return jsonify(list(TOKEN_REQUESTS))


@app.get("/healthz")
def healthz() -> Any:
    return jsonify(ok=True)


if __name__ == "__main__":
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"LISTENING {httpd.server_port}", flush=True)
    httpd.serve_forever()
