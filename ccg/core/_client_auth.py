"""Which forms of client authentication a client tries, and when a refusal means the
next one: the decision behind `ClientSecretAuto`, pure like the rest of the core."""

from __future__ import annotations

import msgspec

from ccg.core._failures import ErrorResponse, MalformedResponse, OAuthProviderError, TokenFailure
from ccg.core._wire import (
    AuthenticationForm,
    ClientSecretAuto,
    ClientSecretBasic,
    ClientSecretPost,
    TokenRequestSpec,
    basic_credentials,
)

__all__ = ["authentication_forms", "form_name", "naming_forms_tried", "refused_authentication"]


def authentication_forms(spec: TokenRequestSpec) -> tuple[AuthenticationForm, ...]:
    """The forms `spec`'s authentication tries, in order (one for an explicit method).

    Raw Basic only when it differs from the form-encoded one (for an id and a secret of
    `[A-Za-z0-9_.~-]` a refusal of one is a refusal of both) and the id has no `:`.
    """
    auth = spec.authentication
    if not isinstance(auth, ClientSecretAuto):
        return (auth,)
    forms: list[AuthenticationForm] = [ClientSecretBasic()]
    encoded = basic_credentials(spec.client_id, spec.client_secret, form_encode=True)
    raw = basic_credentials(spec.client_id, spec.client_secret, form_encode=False)
    # An id with ':' cannot be sent raw: the server would split it at that colon.
    if raw != encoded and ":" not in spec.client_id:
        forms.append(ClientSecretBasic(form_encode=False))
    if auth.allow_post:
        forms.append(ClientSecretPost())
    return tuple(forms)


def form_name(form: AuthenticationForm) -> str:
    """`client_secret_basic`, `client_secret_basic (raw)` or `client_secret_post`."""
    if isinstance(form, ClientSecretPost):
        return "client_secret_post"
    return "client_secret_basic" if form.form_encode else "client_secret_basic (raw)"


def refused_authentication(failure: TokenFailure) -> bool:
    """The token endpoint refused the client's credentials: `invalid_client`, or a 401
    or 403 without an OAuth error body (Glewlwyd answers 403 with an empty body)."""
    match failure:
        case ErrorResponse(error=error):
            return error == OAuthProviderError.INVALID_CLIENT
        case MalformedResponse(status=status):
            return status in (401, 403)
        case _:
            return False


def naming_forms_tried(
    forms: tuple[AuthenticationForm, ...], failure: TokenFailure
) -> TokenFailure:
    """`failure`, the refusal of the last of `forms`, naming every form tried (when there
    was more than one)."""
    if len(forms) > 1 and isinstance(failure, ErrorResponse | MalformedResponse):
        return msgspec.structs.replace(failure, tried=tuple(form_name(f) for f in forms))
    return failure
