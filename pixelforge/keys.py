"""API keys: generate, hash with a server secret, verify in constant time, and load the caller for flask-login."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from pixelforge import keycache
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


def well_formed(full_key: str) -> bool:
    return full_key.startswith(KEY_PREFIX) and len(full_key) == len(KEY_PREFIX) + _LOOKUP_CHARS + _SECRET_CHARS


def verify_key(full_key: str, digest: str | None = None) -> tuple[ApiKey, User] | None:
    """The active key matching full_key and its owner (one query), or None; the comparison takes constant time."""
    if not well_formed(full_key):
        return None
    row = db.session.execute(db.select(ApiKey, User).join(User, User.id == ApiKey.user_id)
                             .where(ApiKey.prefix == prefix_of(full_key))).first()
    expected = row[0].key_hash if row is not None else "0" * 64
    matches = hmac.compare_digest(expected, digest or hash_key(full_key))
    if row is None or not matches or row[0].revoked_at is not None:
        return None
    return row[0], row[1]
