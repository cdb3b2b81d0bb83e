"""Where a job stands in its queue and when it is likely done, from Redis alone (no database): its place in the RQ
queue it waits on, and the recent run times of its operation (the last RECENT_RUNS, kept by workers)."""
from __future__ import annotations

import logging
import statistics

from pixelforge.models import JobStatus, utcnow

log = logging.getLogger(__name__)

RUNS_KEY = "pixelforge:runs:{operation}"
RECENT_RUNS = 20
# One round trip: the queue the job waits on (its RQ hash's origin), its index there, and the recent run times.
_PLACE = """
local origin = redis.call('HGET', KEYS[1], 'origin')
local index = false
if origin then index = redis.call('LPOS', 'rq:queue:' .. origin, ARGV[1]) end
return {index, redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)}
"""


def record_run(pipe, operation: str, seconds: float) -> None:
    """Remember one finished run's seconds (the newest RECENT_RUNS are kept), in the caller's pipeline."""
    key = RUNS_KEY.format(operation=operation)
    pipe.lpush(key, f"{seconds:.3f}")
    pipe.ltrim(key, 0, RECENT_RUNS - 1)


def estimate(job) -> dict:
    """{"queue_position", "eta_seconds"} for an active job (None where unknown); {} for a final one."""
    if job.status not in JobStatus.ACTIVE:
        return {}
    from pixelforge.queue import get_redis

    try:
        index, runs = get_redis().eval(_PLACE, 2, f"rq:job:{job.id}", RUNS_KEY.format(operation=job.operation),
                                       job.id, RECENT_RUNS)
    except Exception as exc:  # Redis away: the status is still worth answering
        log.debug("no queue estimate for %s: %s", job.id, exc)
        return {"queue_position": None, "eta_seconds": None}
    typical = statistics.median(float(run) for run in runs) if runs else None
    if job.status == JobStatus.QUEUED:
        position = int(index) + 1 if index is not None else None
        eta = typical * position if typical is not None and position is not None else None
        return {"queue_position": position, "eta_seconds": _rounded(eta)}
    return {"queue_position": None, "eta_seconds": _rounded(_remaining(job, typical))}


def _remaining(job, typical: float | None) -> float | None:
    elapsed = (utcnow() - job.started_at).total_seconds() if job.started_at else 0.0
    progress = job.progress or 0.0
    if progress >= 0.05:
        return max(0.0, elapsed * (1 - progress) / progress)
    return max(0.0, typical - elapsed) if typical is not None else None


def _rounded(seconds: float | None) -> float | None:
    return round(seconds, 1) if seconds is not None else None
