"""`Authorization: Bearer <token>`: reading the header and the challenge that answers its absence (RFC 6750), for
API keys and the /metrics token alike."""
from __future__ import annotations

REALM = "pixelforge"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def challenge(error: str | None = None) -> str:
    """The WWW-Authenticate value of a 401: no token sent (error=None), or error="invalid_token"."""
    return f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
