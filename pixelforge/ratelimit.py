"""Per-plan rate limits as a plain domain function, so the API and the playground share one counter.

flask-limiter only checks inside a Flask request and before our authentication runs; the API must answer
401/403/413 before 429, and the playground is not a Flask request at all. So both call `check_rate` here,
which counts on flask-limiter's own storage (the `limits` library's Redis storage).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pixelforge.extensions import limiter
from pixelforge.plans import Plan, read_rpm

log = logging.getLogger(__name__)

SUBMIT_SCOPE = "submit"
READ_SCOPE = "read"
WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # unix time when the window frees up
    degraded: bool = False  # the limiter's storage was unreachable; the request was let through

    @property
    def retry_after(self) -> int:
        return max(1, int(self.reset_at - time.time() + 0.999))

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(self.reset_at)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class RateLimited(Exception):
    """The caller used up the plan's budget for this minute."""

    def __init__(self, decision: RateDecision):
        super().__init__(f"rate limit of {decision.limit} per minute exceeded")
        self.decision = decision


def check_rate(scope: str, user_id: int, per_minute: int) -> RateDecision:
    """Count one request of user_id in scope; fail open (allowed, degraded) if the storage is down.

    A fixed one-minute window (flask-limiter's default strategy), counted with one INCR on the limiter's
    own storage: a single round trip per request, where the `limits` strategies need three for the headers.
    """
    now = time.time()
    window_start = int(now // WINDOW_SECONDS * WINDOW_SECONDS)
    key = f"pixelforge/{scope}/user:{user_id}/{window_start}"
    try:
        count = limiter.storage.incr(key, WINDOW_SECONDS)
    except Exception as exc:  # storage down must never become a 500
        log.warning("rate-limit storage unavailable (%s); letting the request through", exc)
        return RateDecision(True, per_minute, per_minute, now + WINDOW_SECONDS, degraded=True)
    return RateDecision(count <= per_minute, per_minute, max(0, per_minute - count), window_start + WINDOW_SECONDS)


def check_submission(user_id: int, plan: Plan) -> RateDecision:
    """The plan's per-minute budget for job submissions; raises RateLimited when spent."""
    decision = check_rate(SUBMIT_SCOPE, user_id, plan.rpm)
    if not decision.allowed:
        raise RateLimited(decision)
    return decision


def check_read(user_id: int, plan: Plan) -> RateDecision:
    """The larger, separate budget for reads; raises RateLimited when spent."""
    decision = check_rate(READ_SCOPE, user_id, read_rpm(plan))
    if not decision.allowed:
        raise RateLimited(decision)
    return decision
