"""Verified API keys remembered in the web process, so a status poll costs no key lookup in SQL.

A cached answer is only as good as what it was verified against, so correctness rests on one Redis value, the
*auth epoch*: every change that could make a cached answer wrong (a key revoked, a plan changed) replaces it with a
fresh random token, and a cached key is used only while the epoch it was verified under is still the current one.
The epoch is read before the database is, so a revocation that lands in between leaves a stale entry that is
never used. A random token (not a counter) means a Redis restart cannot bring an old epoch back. If Redis cannot
be read, nothing is served from the cache. The epoch lives beside the rate-limit counters (flask-limiter's storage):
a cached read reads it in the same script call that counts the request, so a poll costs one Redis round trip.

Only reads (GET/HEAD) use it, and a cached read's current_user is an `ApiCaller` (id, email, plan), not an ORM
object: building and merging a User into the session cost a status poll as much as its own SELECT. A read that
needs more (the balance) loads the row by id. Entries age out after `API_KEY_CACHE_SECONDS` (default:
last_used_at's one-minute resolution, so that stamp stays as fresh as before).
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass

from flask import current_app
from flask_login import UserMixin

from pixelforge import ratelimit
from pixelforge.models import User
from pixelforge.plans import get_plan, read_rpm

log = logging.getLogger(__name__)

EPOCH_KEY = "pixelforge:auth-epoch"
MAX_ENTRIES = 10_000  # one per active key; past this the cache starts over
_EXTENSION = "pixelforge.keycache"


@dataclass(frozen=True, eq=False)  # UserMixin compares by get_id()
class ApiCaller(UserMixin):
    """The owner of a key verified earlier: identity and plan, all that a read's checks and views need."""

    id: int
    email: str
    plan: str


@dataclass(frozen=True)
class _Entry:
    user_id: int
    email: str
    plan: str
    epoch: str
    expires_at: float  # time.monotonic()


class VerifiedKeys:
    """key digest → the owner it was verified to belong to, under which epoch, until when."""

    def __init__(self):
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> _Entry | None:
        """The unexpired entry for digest; whether its epoch is still current is the caller's question."""
        entry = self._entries.get(digest)
        return entry if entry is not None and entry.expires_at >= time.monotonic() else None

    def put(self, digest: str, user: User, epoch: str, seconds: float) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = _Entry(user.id, user.email, user.plan, epoch, time.monotonic() + seconds)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _cache() -> VerifiedKeys | None:
    if current_app.config["API_KEY_CACHE_SECONDS"] <= 0:
        return None
    cache = current_app.extensions.get(_EXTENSION)
    if cache is None:
        cache = current_app.extensions.setdefault(_EXTENSION, VerifiedKeys())
    return cache


def current_epoch() -> str | None:
    """The auth epoch now (made on first use), or None when Redis cannot be read."""
    try:
        redis = ratelimit.redis_client()
        if redis is None:
            return None
        value = redis.get(EPOCH_KEY)
        if value is None:
            redis.set(EPOCH_KEY, secrets.token_hex(8), nx=True)
            value = redis.get(EPOCH_KEY)
    except Exception as exc:  # noqa: BLE001 - no epoch, no cache: the database answers instead
        log.debug("auth epoch unavailable: %s", exc)
        return None
    return value.decode() if value is not None else None


def bump_epoch() -> None:
    """Invalidate every process's cached keys; call after committing a change to a key or a user's plan."""
    cache = current_app.extensions.get(_EXTENSION)
    if cache is not None:
        cache.clear()
    redis = ratelimit.redis_client()
    if redis is None:  # no Redis, no epoch: nothing anywhere can be answering from a cache
        return
    try:
        redis.set(EPOCH_KEY, secrets.token_hex(8))
    except Exception as exc:  # noqa: BLE001 - the change is committed; other processes catch up when entries age out
        log.warning("could not publish an API key change to other web processes (%s); their cached keys "
                    "expire within %s s", exc, current_app.config["API_KEY_CACHE_SECONDS"])


@dataclass(frozen=True)
class CachedRead:
    """owner_for_read's answer: the cached owner (None on a miss), the epoch to cache a database answer under, and
    the rate decision of the read it counted on a hit (for the API's gate to enforce in its order)."""

    owner: ApiCaller | None
    epoch: str | None
    counted: ratelimit.RateDecision | None = None


def owner_for_read(digest: str) -> CachedRead:
    """For a GET: the cached owner of this key, if any. A hit also counts the read against the owner's plan (one
    script call with the epoch read); the API's gate enforces that decision after 403 and 413.
    After an invalidation that count stays: the caller's next read is counted once more.
    """
    cache = _cache()
    if cache is None:
        return CachedRead(None, None)
    entry = cache.get(digest)
    if entry is None:
        return CachedRead(None, current_epoch())
    decision, epoch = ratelimit.check_rate(ratelimit.READ_SCOPE, entry.user_id, read_rpm(get_plan(entry.plan)),
                                           also_read=EPOCH_KEY)
    if epoch is None or epoch.decode() != entry.epoch:
        return CachedRead(None, epoch.decode() if epoch is not None else current_epoch())
    return CachedRead(ApiCaller(entry.user_id, entry.email, entry.plan), entry.epoch, decision)


def remember(digest: str, user: User, epoch: str | None) -> None:
    """Cache a key just verified in the database, under the epoch read before that lookup."""
    cache = _cache()
    if cache is not None and epoch is not None:
        cache.put(digest, user, epoch, current_app.config["API_KEY_CACHE_SECONDS"])
