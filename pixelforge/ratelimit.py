"""Per-plan rate limits as a plain domain function, so the API and the playground share one counter.

flask-limiter only checks inside a Flask request and before our authentication runs; the API must answer
401/403/413 before 429, and the playground is not a Flask request at all. So both call `check_rate` here,
which counts on flask-limiter's own storage.

The window is a true moving minute: each accepted request is logged (a Redis sorted set, scored by Redis's own
clock, so every web process agrees) and a request is refused while the last 60 s already hold the plan's limit.
A fixed window would let 2 × the limit through across a minute boundary. Refused requests are not logged, so
retrying after Retry-After always succeeds. One script call per request; it can also read one more key
(keycache's auth epoch) in the same round trip.
"""
from __future__ import annotations

import functools
import logging
import secrets
import time
from dataclasses import dataclass

from limits.storage import RedisStorage

from pixelforge.errors import PixelForgeError
from pixelforge.extensions import limiter
from pixelforge.plans import Plan, read_rpm

log = logging.getLogger(__name__)

SUBMIT_SCOPE = "submit"
READ_SCOPE = "read"
WINDOW_SECONDS = 60

# KEYS[1]: the caller's log; KEYS[2] (optional): a key to read back. ARGV: window µs, limit, unique member suffix.
_MOVING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, t[1] .. '.' .. t[2] .. ':' .. ARGV[3])
  count = count + 1
  allowed = 1
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or false
local extra = false
if #KEYS > 1 then extra = redis.call('GET', KEYS[2]) end
return {allowed, count, now, oldest, extra}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # unix time when the oldest request in the window leaves it (one more is then allowed)
    degraded: bool = False  # the limiter's storage was unreachable; the request was let through

    @property
    def retry_after(self) -> int:
        return max(1, int(self.reset_at - time.time() + 0.999))

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(self.reset_at + 0.999)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class RateLimited(PixelForgeError):
    """The caller used up the plan's budget for this minute (HTTP 429)."""

    status, code, title = 429, "rate_limited", "Too many runs"

    def __init__(self, decision: RateDecision):
        super().__init__(f"rate limit of {decision.limit} per minute exceeded")
        self.decision = decision

    def api_message(self) -> str:
        return f"{self}; retry after {self.decision.retry_after} s"

    def person_message(self) -> str:
        return (f"Your plan allows {self.decision.limit} runs per minute. "
                f"Try again in {self.decision.retry_after} s.")

    def headers(self) -> dict[str, str]:
        return self.decision.headers()


def redis_client():
    """flask-limiter's Redis client, or None when its storage is not Redis (memory:// without REDIS_URL)."""
    return limiter.storage.storage if isinstance(limiter.storage, RedisStorage) else None


@functools.lru_cache(maxsize=8)
def _script(client):
    """The moving-window script bound to client (redis-py loads it on first use, and again after a restart)."""
    return client.register_script(_MOVING_WINDOW)


def _count_in_memory(key: str, per_minute: int) -> RateDecision:
    """The same moving window through the `limits` library, for a non-Redis storage (development only)."""
    from limits import RateLimitItemPerMinute
    from limits.strategies import MovingWindowRateLimiter

    strategy, item = MovingWindowRateLimiter(limiter.storage), RateLimitItemPerMinute(per_minute)
    allowed = strategy.hit(item, key)
    stats = strategy.get_window_stats(item, key)
    return RateDecision(allowed, per_minute, stats.remaining, stats.reset_time)


def check_rate(scope: str, user_id: int, per_minute: int, also_read: str | None = None,
               ) -> tuple[RateDecision, bytes | None]:
    """Count one request of user_id in scope; fail open (allowed, degraded) if the storage is down.

    Returns the decision and the value of `also_read` (None when not asked, absent or unreadable).
    """
    key = f"pixelforge/{scope}/user:{user_id}"
    try:
        client = redis_client()
        if client is None:
            return _count_in_memory(key, per_minute), None
        keys = [key, also_read] if also_read else [key]
        allowed, count, now_us, oldest, extra = _script(client)(
            keys=keys, args=[WINDOW_SECONDS * 1_000_000, per_minute, secrets.token_hex(4)])
    except Exception as exc:  # storage down must never become a 500
        log.warning("rate-limit storage unavailable (%s); letting the request through", exc)
        return RateDecision(True, per_minute, per_minute, time.time() + WINDOW_SECONDS, degraded=True), None
    oldest_us = float(oldest) if oldest is not None else now_us
    reset_at = (oldest_us + WINDOW_SECONDS * 1_000_000) / 1_000_000
    return RateDecision(bool(allowed), per_minute, max(0, per_minute - count), reset_at), extra


def check_submission(user_id: int, plan: Plan) -> RateDecision:
    """The plan's per-minute budget for job submissions; raises RateLimited when spent."""
    decision, _ = check_rate(SUBMIT_SCOPE, user_id, plan.rpm)
    return raise_if_limited(decision)


def check_read(user_id: int, plan: Plan) -> RateDecision:
    """The larger, separate budget for reads; raises RateLimited when spent."""
    decision, _ = check_rate(READ_SCOPE, user_id, read_rpm(plan))
    return raise_if_limited(decision)


def raise_if_limited(decision: RateDecision) -> RateDecision:
    """The decision, or RateLimited when it refused the request."""
    if not decision.allowed:
        raise RateLimited(decision)
    return decision
