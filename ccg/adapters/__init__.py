"""ccg inside the HTTP clients services already hold: `ccg.adapters.requests` (an
`AuthBase`, `pip install 'ccg[requests]'`) and `ccg.adapters.httpx` (an `httpx.Auth`
for `Client` and `AsyncClient`, `pip install 'ccg[httpx]'`).

Both run over a ccg token manager, so there is one token cache, one flight, the same
callbacks and errors; both send the bearer only to the origins they are bound to, and
recover from a 401 with one replay, as `ApiClient` does.
"""

__all__: list[str] = []
