"""A new API key travels from the POST that made it to the one page that shows it, never through a cookie.

Post/redirect/get: the POST keeps the secret in Redis for a minute under a random token, the session carries only
the token, and the page after the redirect takes the secret out (GETDEL). A reload finds nothing, so it neither
shows the key again nor makes a second one.
"""
from __future__ import annotations

import json
import secrets

from flask import session
from redis.exceptions import RedisError

from pixelforge.queue import get_redis

SESSION_KEY = "new_key_token"
KEEP_SECONDS = 60


def _redis_key(token: str) -> str:
    return f"pixelforge:dashboard:new-key:{token}"


def hand_over(secret: str, name: str) -> bool:
    """Keep the new key for the next page of this session; False when Redis cannot take it."""
    token = secrets.token_urlsafe(24)
    try:
        get_redis().set(_redis_key(token), json.dumps({"secret": secret, "name": name}), ex=KEEP_SECONDS)
    except RedisError:
        return False
    session[SESSION_KEY] = token
    return True


def take() -> dict | None:
    """The key handed over to this session ({"secret", "name"}), once; None after that."""
    token = session.pop(SESSION_KEY, None)
    if not isinstance(token, str):
        return None
    try:
        raw = get_redis().getdel(_redis_key(token))
    except RedisError:
        return None
    return json.loads(raw) if raw else None
