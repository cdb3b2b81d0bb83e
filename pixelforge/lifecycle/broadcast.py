"""After a transition's commit: its messages on Redis (and a final status mark for waiters that subscribe late),
then its webhook deliveries on their queue. Waiters (Prefer: wait, a download's wait, Server-Sent Events) hear a
job change here without polling the database; a lost message costs a waiter time, never correctness."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from pixelforge.models import JobStatus

log = logging.getLogger(__name__)

CHANNEL = "pixelforge:job:{job_id}"
FINAL_MARK = "pixelforge:job:{job_id}:final"  # the final status, kept a while for waiters that subscribe late
FINAL_MARK_SECONDS = 3600


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
