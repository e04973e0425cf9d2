"""django-oauth-toolkit 3.4 as a client_credentials authorization server, in one file, on 127.0.0.1.

Run as a program. Environment: INTEROP_CLIENTS (JSON list of {client_id, client_secret,
scope, grants}), INTEROP_SCOPES (the scopes it knows, space-separated), INTEROP_TOKEN_TTL
(seconds), INTEROP_STATE_DIR (a folder for the SQLite database). Prints `LISTENING <port>`
once it listens on an ephemeral port.

- POST /o/token/: DOT's TokenView; client_secret_basic (`unquote_plus`ed: RFC 6749 §2.3.1) or
  client_secret_post. `resource` (RFC 8707) must be an http(s) URL; the token is then valid
  only for URLs under it.
- GET /api/me: the protected endpoint, checked against DOT's own token table (and the token's
  resource against this URL): 200 {client_id, scope, aud} or 401 invalid_token.
- GET /_interop/token-requests: every successful token request, {client_id, params}.

Django and DOT ship no type information: they are reached through `Any` module handles,
so the strict type checkers check this file's own code and take theirs as given.
"""

from __future__ import annotations

import importlib
import json
import os
import socketserver
import threading
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

TTL = int(os.environ.get("INTEROP_TOKEN_TTL", "3600"))
CLIENTS: list[dict[str, Any]] = json.loads(os.environ.get("INTEROP_CLIENTS", "[]"))
CLIENT_SCOPES = {str(c["client_id"]): str(c["scope"]).split() for c in CLIENTS}
KNOWN_SCOPES = os.environ.get("INTEROP_SCOPES", "read").split()
STATE_DIR = Path(os.environ["INTEROP_STATE_DIR"])
TOKEN_REQUESTS: list[dict[str, object]] = []
LOCK = threading.Lock()


def _module(name: str) -> Any:
    return importlib.import_module(name)


django: Any = _module("django")
_module("django.conf").settings.configure(
    DEBUG=False,
    SECRET_KEY="interop-only-not-secret",
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    USE_TZ=True,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "oauth2_provider"],
    MIDDLEWARE=[],
    DATABASES={
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(STATE_DIR / "dot.sqlite3")}
    },
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    OAUTH2_PROVIDER={
        "SCOPES": {name: name for name in KNOWN_SCOPES},
        "ACCESS_TOKEN_EXPIRE_SECONDS": TTL,
        "SCOPES_BACKEND_CLASS": f"{__name__}.ClientScopes",
    },
    LOGGING_CONFIG=None,
)
django.setup()

http: Any = _module("django.http")
urls: Any = _module("django.urls")
models: Any = _module("oauth2_provider.models")
backends: Any = _module("oauth2_provider.oauth2_backends")
signals: Any = _module("oauth2_provider.signals")
views: Any = _module("oauth2_provider.views")


class ClientScopes:
    """DOT's scopes backend: each application may have (and by default gets) its own scopes."""

    def get_all_scopes(self) -> dict[str, str]:
        return {name: name for name in KNOWN_SCOPES}

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: object, **kwargs: object
    ) -> list[str]:
        return CLIENT_SCOPES.get(str(application.client_id), []) if application else []

    def get_default_scopes(
        self, application: Any = None, request: Any = None, *args: object, **kwargs: object
    ) -> list[str]:
        return self.get_available_scopes(application, request)


def record(sender: object, request: Any, token: Any, **kwargs: object) -> None:
    form: Any = request.POST
    params = {str(name): list(form.getlist(name)) for name in form if name != "client_secret"}
    with LOCK:
        TOKEN_REQUESTS.append({"client_id": str(token.application.client_id), "params": params})


signals.app_authorized.connect(record)


def me(request: Any) -> Any:
    valid, oauth_request = backends.get_oauthlib_core().verify_request(request, scopes=[])
    if not valid:
        response = http.JsonResponse({"error": "invalid_token"}, status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    token = oauth_request.access_token
    return http.JsonResponse(
        {"client_id": token.application.client_id, "scope": token.scope, "aud": token.resource}
    )


def token_requests(request: Any) -> Any:
    with LOCK:
        return http.JsonResponse(list(TOKEN_REQUESTS), safe=False)


def healthz(request: Any) -> Any:
    return http.JsonResponse({"ok": True})


urlpatterns = [
    urls.path("o/token/", views.TokenView.as_view()),
    urls.path("api/me", me),
    urls.path("_interop/token-requests", token_requests),
    urls.path("healthz", healthz),
]


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    _module("django.core.management").call_command("migrate", verbosity=0, interactive=False)
    application = models.Application
    for client in CLIENTS:
        allowed = "client_credentials" in client["grants"]
        application.objects.create(
            name=client["client_id"],
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            hash_client_secret=False,  # a hash costs ~0.3 s per token request
            client_type=application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=(
                application.GRANT_CLIENT_CREDENTIALS
                if allowed
                else application.GRANT_AUTHORIZATION_CODE
            ),
            redirect_uris="" if allowed else "https://127.0.0.1/unused",
        )
    httpd = ThreadingServer(("127.0.0.1", 0), QuietHandler)
    httpd.set_app(_module("django.core.wsgi").get_wsgi_application())
    print(f"LISTENING {httpd.server_address[1]}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
