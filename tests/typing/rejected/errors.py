# ruff: noqa: B018
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""The errors' attributes are as narrow as they can be, no narrower."""

from ccg import (
    InvalidTokenError,
    TokenAcquisitionError,
    TokenAcquisitionTimeout,
    TokenEndpointUnreachable,
    TokenFetchAbandoned,
    TransportFailureKind,
)


def status_of(error: TokenAcquisitionError) -> int:
    return error.status  # E: return-value | reportReturnType


def kind_of(error: TokenEndpointUnreachable) -> TransportFailureKind:
    return error.kind  # E: return-value | reportReturnType


def kind_name(error: TokenEndpointUnreachable) -> str:
    return error.kind.value  # E: union-attr | reportOptionalMemberAccess


def status_of_invalid(error: InvalidTokenError) -> None:
    error.failure.status  # E: attr-defined | reportAttributeAccessIssue, reportUnknownMemberType


def seconds_waited(error: TokenAcquisitionTimeout) -> None:
    error.failure.seconds  # E: union-attr | reportAttributeAccessIssue, reportUnknownMemberType


def as_unreachable(error: TokenAcquisitionTimeout) -> TokenEndpointUnreachable:
    return error  # E: return-value | reportReturnType


InvalidTokenError("access_token is empty")  # E: arg-type | reportArgumentType
TokenAcquisitionTimeout("no token after 32 s")  # E: call-arg | reportCallIssue
TokenFetchAbandoned("stopped", failure=None)  # E: arg-type | reportArgumentType
