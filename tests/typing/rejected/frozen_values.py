# fmt: off
# (An expectation comment must stay on the line it is about: no wrapping, no reformatting.)
"""Tokens, replies and requests are frozen values: no field can be assigned."""

from ccg import HttpReply, HttpRequest, OAuthToken

token = OAuthToken(access_token="t", expires_in=3600)
token.access_token = "other"  # E: misc | reportAttributeAccessIssue
token.expiry = None  # E: misc | reportAttributeAccessIssue
reply = HttpReply(status=200)
reply.status = 500  # E: misc | reportAttributeAccessIssue
request = HttpRequest(method="GET", url="https://api.example/x")
request.headers = ()  # E: misc | reportAttributeAccessIssue
