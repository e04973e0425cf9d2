# ruff: noqa: E501, F401, I001
# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting;
# so one import a line, unsorted.)
"""Names that moved or went in 0.2.0: the fakes are in `ccg.testing` only, the scopes in `ccg`
only, and the v1 state variants (`NoToken`, `Holding`, `Fetching`) became one `TokenState`."""

from ccg.interp import FakeTransport  # E: attr-defined | reportAttributeAccessIssue, reportUnknownVariableType, reportUnusedImport
from ccg.interp import FakeClock  # E: attr-defined | reportAttributeAccessIssue, reportUnknownVariableType, reportUnusedImport
from ccg.core import OAuthScopeEnum  # E: attr-defined | reportAttributeAccessIssue, reportUnknownVariableType, reportUnusedImport
from ccg.core import Holding  # E: attr-defined | reportAttributeAccessIssue, reportUnknownVariableType, reportUnusedImport
from ccg.core import NoToken  # E: attr-defined | reportAttributeAccessIssue, reportUnknownVariableType, reportUnusedImport
