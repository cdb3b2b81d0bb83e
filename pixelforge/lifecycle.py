"""A job's transitions as events: each one is written as a `job_events` row in the transaction that made it (with
the webhook deliveries it triggers: an outbox), and announced on Redis after the commit, where waiters (Prefer:
wait, a download's wait, Server-Sent Events) hear it without polling the database.

The SQL row stays the truth about a job. A lost Redis message costs a waiter time, never correctness: waiters
also check the job's final marker every few seconds and read the job from the database when they stop waiting,
and webhook deliveries lost on the way to their queue are sent again by upkeep.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import insert, select

from pixelforge.models import Job, JobEvent, JobStatus, utcnow

log = logging.getLogger(__name__)

CHANNEL = "pixelforge:job:{job_id}"
FINAL_MARK = "pixelforge:job:{job_id}:final"  # the final status, kept a while for waiters that subscribe late
FINAL_MARK_SECONDS = 3600
PROGRESS_EVENT_STEP = 0.1  # a progress row (and webhook) per tenth; every progress write is still announced


@dataclass(frozen=True)
class Announcement:
    """What waiters hear about one transition (the event row's id is the SSE event id)."""

    job_id: str
    kind: str  # queued | processing | progress | done | failed | cancelled
    progress: float | None = None
    event_id: int | None = None

    @property
    def status(self) -> str:
        return JobStatus.PROCESSING if self.kind == "progress" else self.kind

    @property
    def final(self) -> bool:
        return self.kind in JobStatus.FINAL

    def message(self) -> str:
        return json.dumps({"job_id": self.job_id, "event": self.kind, "status": self.status,
                           "progress": self.progress, "event_id": self.event_id})


@dataclass
class Transition:
    """What a transition leaves to do after its commit: announce, and queue the webhook deliveries it made."""

    announcements: list[Announcement]
    deliveries: list[str]

    def announce(self) -> None:
        announce(self)


def channel(job_id: str) -> str:
    return CHANNEL.format(job_id=job_id)


def final_mark(job_id: str) -> str:
    return FINAL_MARK.format(job_id=job_id)


def record(executor, job_id: str, kind: str, progress: float | None = None,
           with_webhooks: bool = True) -> Transition:
    """Write the event row (and any webhook deliveries) through `executor`, a session or connection inside the
    transition's transaction; the caller commits, then calls .announce() on the result.

    with_webhooks=False: the caller knows the job has no webhook, which saves reading its row.
    """
    result = executor.execute(insert(JobEvent).values(job_id=job_id, kind=kind, progress=progress,
                                                      created_at=utcnow()))
    event_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    deliveries: list[str] = []
    if with_webhooks:
        from pixelforge.webhooks import EVENT_FOR_KIND, create_deliveries

        if kind in EVENT_FOR_KIND:
            row = executor.execute(select(Job.__table__).where(Job.__table__.c.id == job_id)).first()
            if row is not None and row.webhook_url:
                deliveries = create_deliveries(executor, row, EVENT_FOR_KIND[kind])
    return Transition([Announcement(job_id, kind, progress, event_id)], deliveries)


def announce(transition: Transition) -> None:
    """After the commit: one Redis round trip for the messages (and final marks), then the deliveries' queue."""
    from pixelforge.queue import get_redis

    try:
        pipe = get_redis().pipeline(transaction=False)
        for item in transition.announcements:
            pipe.publish(channel(item.job_id), item.message())
            if item.final:
                pipe.set(final_mark(item.job_id), item.kind, ex=FINAL_MARK_SECONDS)
        pipe.execute()
    except Exception as exc:  # Redis away: waiters fall back to the database when their wait ends
        log.warning("could not announce %s: %s", [a.kind for a in transition.announcements], exc)
    if transition.deliveries:
        from pixelforge.webhooks import enqueue_deliveries

        enqueue_deliveries(transition.deliveries)


def announce_progress(job_id: str, progress: float) -> None:
    """A progress figure for live streams only (no row): every throttled progress write of a worker."""
    announce(Transition([Announcement(job_id, "progress", progress)], []))
