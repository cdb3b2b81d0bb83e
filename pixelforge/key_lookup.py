"""Who a request's Bearer key names: looked up once per request, for flask-login's request loader and the API's
gate. Reads may be answered from keycache; anything that writes looks the key up in the database."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, g

from pixelforge import keycache
from pixelforge.bearer import bearer_token
from pixelforge.extensions import db, login_manager
from pixelforge.internal_requests import is_internal
from pixelforge.keys import LAST_USED_RESOLUTION, well_formed, hash_key, verify_key
from pixelforge.models import User, utcnow


@dataclass(frozen=True)
class KeyLookup:
    """Who a request's Bearer key names, or why it names nobody; what the API's gate needs besides the user."""

    user: object | None  # a User, or a keycache.ApiCaller for a read answered from the cache
    failure: str | None = None  # "missing" (no Bearer header) | "invalid" (malformed, unknown or revoked)
    counted_read: object | None = None  # the rate decision of a read keycache counted while it found the key
    key_webhook: tuple[str, str | None] | None = None  # the key's default webhook (url, events), if it has one


_LOOKUP = "pixelforge_key_lookup"


def key_lookup(request) -> KeyLookup:
    """The request's key lookup, made once per request (flask-login's loader and the API's gate both ask)."""
    found = g.get(_LOOKUP)
    if found is None:
        found = _look_up(request)
        setattr(g, _LOOKUP, found)
    return found


def load_user_from_request(request) -> User | None:
    """flask-login's request_loader: the owner of a valid Bearer key (key_lookup says why there is none)."""
    return key_lookup(request).user


def _look_up(request) -> KeyLookup:
    """Reads may be answered from keycache (verified keys, invalidated across processes by the auth epoch);
    anything that writes looks the key up in the database."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        return KeyLookup(None, "missing")
    if not well_formed(token):
        return KeyLookup(None, "invalid")
    digest = hash_key(token)
    epoch = None
    if request.method in ("GET", "HEAD") and request.path.startswith("/api/") and not is_internal(request):
        cached = keycache.owner_for_read(digest)  # the epoch is read before the database: see keycache
        if cached.owner is not None:
            return KeyLookup(cached.owner, counted_read=cached.counted)
        epoch = cached.epoch
    verified = verify_key(token, digest)
    if verified is None:
        return KeyLookup(None, "invalid")
    record, user = verified
    webhook = (record.webhook_url, record.webhook_events) if record.webhook_url else None  # read before the commit
    now = utcnow()
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        record.last_used_at = now
        db.session.commit()
    keycache.remember(digest, user, epoch)
    return KeyLookup(user, key_webhook=webhook)


def init_app(app: Flask) -> None:
    """flask-login asks here for a request without a session: the API's Bearer key."""
    login_manager.request_loader(load_user_from_request)
