"""The outbox: each transition's `job_events` row (and the webhook deliveries it triggers) written in the
transaction that made the transition, so history, webhooks and live streams never disagree with the job row."""
from __future__ import annotations

from sqlalchemy import insert, select

from pixelforge.lifecycle.broadcast import Announcement, Transition
from pixelforge.models import Job, JobEvent, utcnow

PROGRESS_EVENT_STEP = 0.1  # a progress row (and webhook) per tenth; every progress write is still announced


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
