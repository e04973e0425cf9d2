"""Demo and test support: a real Authlib authorization server on 127.0.0.1."""
