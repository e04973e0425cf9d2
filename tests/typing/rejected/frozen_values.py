# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Tokens, replies, requests and the core's values are frozen: no field can be assigned."""

from ccg import HttpReply, HttpRequest, Limits, OAuthToken
from ccg.core import Held, Now, TokenNeeded, TokenRequestSpec, TokenState, step
from ccg.interp import ClientCredentialsAuthManager
from ccg.testing import FakeTransport

token = OAuthToken(access_token="t", expires_in=3600)
token.access_token = "other"  # E: misc | reportAttributeAccessIssue
token.expiry = None  # E: misc | reportAttributeAccessIssue
reply = HttpReply(status=200)
reply.status = 500  # E: misc | reportAttributeAccessIssue
request = HttpRequest(method="GET", url="https://api.example/x")
request.headers = ()  # E: misc | reportAttributeAccessIssue
request.limits = None  # E: misc | reportAttributeAccessIssue
limits = Limits(connect_timeout=1, read_timeout=1, total_timeout=1)
limits.max_body_bytes = 10  # E: misc | reportAttributeAccessIssue
now = Now(monotonic=0.0, wall=1_700_000_000.0)
now.monotonic = 5.0  # E: misc | reportAttributeAccessIssue
state = TokenState()
held = Held(token=token, expires_at=3600.0, fresh_until=3540.0, refresh_at=2655.0)
state.held = held  # E: misc | reportAttributeAccessIssue
state.flights += 1  # E: misc | reportAttributeAccessIssue
spec = TokenRequestSpec(token_url="https://as.example/token", client_id="id", client_secret="s")
spec.client_secret = "other"  # E: misc | reportAttributeAccessIssue
manager = ClientCredentialsAuthManager(spec, transport=FakeTransport())
manager.policy.limits = limits  # E: misc | reportAttributeAccessIssue
decision = step(manager.policy, manager.state, TokenNeeded(), now)
decision.answer = None  # E: misc | reportAttributeAccessIssue
decision.state.flights = 0  # E: misc | reportAttributeAccessIssue
