"""API keys: generate, hash with a server secret, verify in constant time, and load the caller for flask-login."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, g

from pixelforge import keycache
from pixelforge.bearer import bearer_token
from pixelforge.internal_requests import is_internal
from pixelforge.extensions import db
from pixelforge.models import ApiKey, User, utcnow

KEY_PREFIX = "pfk_"
_ALPHABET = string.ascii_letters + string.digits
_LOOKUP_CHARS = 8  # visible after pfk_, unique per key, used to find the row
_SECRET_CHARS = 40
LAST_USED_RESOLUTION = timedelta(seconds=60)  # avoid a write on every poll


@dataclass(frozen=True)
class NewKey:
    """A freshly created key: `secret` is the only time the full key exists outside the client."""

    record: ApiKey
    secret: str


class KeyNotFound(LookupError):
    """No active key has that prefix."""


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def hash_key(full_key: str) -> str:
    """HMAC-SHA256 with the instance's secret: a stolen database holds nothing usable."""
    secret = current_app.config["KEY_HASH_SECRET"].encode()
    return hmac.new(secret, full_key.encode(), hashlib.sha256).hexdigest()


def prefix_of(full_key: str) -> str:
    return full_key[: len(KEY_PREFIX) + _LOOKUP_CHARS]


def create_key(user: User, name: str = "") -> NewKey:
    """Make a key for user and store its hash; the caller shows `secret` once."""
    while True:
        full_key = KEY_PREFIX + _random(_LOOKUP_CHARS) + _random(_SECRET_CHARS)
        if not db.session.scalar(db.select(ApiKey.id).filter_by(prefix=prefix_of(full_key))):
            break
    record = ApiKey(user_id=user.id, name=name[:100], prefix=prefix_of(full_key), key_hash=hash_key(full_key))
    db.session.add(record)
    db.session.commit()
    return NewKey(record, full_key)


def revoke_key(prefix: str, user: User | None = None) -> ApiKey:
    """Revoke the key with this prefix (only among user's keys when user is given)."""
    query = db.select(ApiKey).filter_by(prefix=prefix, revoked_at=None)
    if user is not None:
        query = query.filter_by(user_id=user.id)
    record = db.session.scalar(query)
    if record is None:
        raise KeyNotFound(f"no active API key with prefix {prefix!r}")
    record.revoked_at = utcnow()
    db.session.commit()
    keycache.bump_epoch()
    return record


def _well_formed(full_key: str) -> bool:
    return full_key.startswith(KEY_PREFIX) and len(full_key) == len(KEY_PREFIX) + _LOOKUP_CHARS + _SECRET_CHARS


def verify_key(full_key: str, digest: str | None = None) -> tuple[ApiKey, User] | None:
    """The active key matching full_key and its owner (one query), or None; the comparison takes constant time."""
    if not _well_formed(full_key):
        return None
    row = db.session.execute(db.select(ApiKey, User).join(User, User.id == ApiKey.user_id)
                             .where(ApiKey.prefix == prefix_of(full_key))).first()
    expected = row[0].key_hash if row is not None else "0" * 64
    matches = hmac.compare_digest(expected, digest or hash_key(full_key))
    if row is None or not matches or row[0].revoked_at is not None:
        return None
    return row[0], row[1]


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
    if not _well_formed(token):
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
