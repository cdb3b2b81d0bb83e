"""Every status change of a job, in one place: queued → processing (claim) → done (finish), and from any active
state to failed (fail, reap, expire) or cancelled (cancel), each with refund and event where it applies.

Each transition is one conditional UPDATE guarded by the status it leaves: of a worker, a reaper and a cancel
racing on one job, only the UPDATE that still sees the old status wins, so a job ends once and is refunded once.
Its `job_events` row (the outbox) is written in the same transaction; the announcement follows the commit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update

from pixelforge import credits
from pixelforge.extensions import db
from pixelforge.lifecycle.broadcast import announce_progress
from pixelforge.lifecycle.outbox import record
from pixelforge.models import Job, JobStatus, utcnow

JOBS = Job.__table__

WORKER_LOST = ("worker_lost", "the worker running this job stopped responding; the job was refunded, please submit "
                              "it again")
QUEUE_TIMEOUT = ("queue_timeout", "no worker picked this job up in time; the job was refunded, please submit it "
                                  "again")
CANCELLED = ("cancelled", "the job was cancelled at the owner's request; it was refunded")


@dataclass(frozen=True)
class JobResult:
    """What a worker stored for a finished job."""

    result_key: str
    result_type: str
    engine: str | None
    model: str | None
    info: dict = field(default_factory=dict)


def queued(job_id: str) -> None:
    """The `queued` event of a job the caller has just added, in the caller's transaction (nobody can be listening
    yet: no webhook, no announcement). The caller commits."""
    record(db.session, job_id, JobStatus.QUEUED, with_webhooks=False)


def claim(job_id: str, worker_name: str):
    """queued → processing. The job's row (as it is now) if this worker moved it, else None: one statement
    (UPDATE … RETURNING) rather than an update and a read. Commits."""
    now = utcnow()
    row = db.session.execute(
        update(JOBS).where(JOBS.c.id == job_id, JOBS.c.status == JobStatus.QUEUED)
        .values(status=JobStatus.PROCESSING, started_at=now, heartbeat_at=now, worker_name=worker_name, progress=0.0)
        .returning(*JOBS.c)
    ).first()
    if row is None:
        db.session.rollback()
        return None
    transition = record(db.session, job_id, JobStatus.PROCESSING, with_webhooks=False)
    db.session.commit()
    transition.announce()
    return row


def progress(job_id: str, value: float, with_event: bool, progress_webhook: bool = False) -> bool:
    """A processing job's progress (and heartbeat), announced to live streams; with_event also writes a `progress`
    row (and webhook, when progress_webhook). False when the job is no longer processing (ended elsewhere)."""
    transition = None
    with db.engine.begin() as connection:  # its own connection: the worker holds no session during compute
        result = connection.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.PROCESSING)
                                    .values(progress=value, heartbeat_at=utcnow()))
        if result.rowcount == 1 and with_event:
            transition = record(connection, job_id, "progress", round(value, 4), progress_webhook)
    if result.rowcount == 0:
        return False
    if transition is not None:
        transition.announce()
    else:
        announce_progress(job_id, round(value, 4))
    return True


def keep_alive(job_id: str) -> None:
    """Stamp a processing job's heartbeat so that it is not reaped (no status change, no event)."""
    with db.engine.begin() as connection:
        connection.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.PROCESSING)
                           .values(heartbeat_at=utcnow()))


def finish(job_id: str, result: JobResult, has_webhook: bool = False):
    """processing → done. The ended row's timing columns if this call moved it, else None (the job was ended
    elsewhere meanwhile: the caller discards its result). Commits."""
    ended = db.session.execute(
        update(JOBS).where(JOBS.c.id == job_id, JOBS.c.status == JobStatus.PROCESSING)
        .values(status=JobStatus.DONE, result_key=result.result_key, result_type=result.result_type, progress=1.0,
                engine=result.engine, model=result.model, info=result.info, finished_at=utcnow())
        .returning(JOBS.c.operation, JOBS.c.status, JOBS.c.engine, JOBS.c.created_at, JOBS.c.started_at,
                   JOBS.c.finished_at)
    ).first()
    transition = record(db.session, job_id, JobStatus.DONE, with_webhooks=has_webhook) if ended else None
    db.session.commit()
    if transition is not None:
        transition.announce()
    return ended


def fail(job_id: str, code: str, message: str) -> bool:
    """queued or processing → failed, refunded. True if this call did it. Commits."""
    return _end_unsuccessfully(job_id, JobStatus.ACTIVE, JobStatus.FAILED, code, message)


def cancel(job_id: str) -> bool:
    """queued or processing → cancelled at the owner's request, refunded. True if this call did it. Commits."""
    return _end_unsuccessfully(job_id, JobStatus.ACTIVE, JobStatus.CANCELLED, *CANCELLED)


def reap(job_id: str, now: datetime | None = None) -> bool:
    """processing → failed (worker_lost), refunded: its worker went silent. True if this call did it. Commits."""
    return _end_unsuccessfully(job_id, (JobStatus.PROCESSING,), JobStatus.FAILED, *WORKER_LOST, now=now)


def expire(job_id: str, now: datetime | None = None) -> bool:
    """queued → failed (queue_timeout), refunded: no worker took it in time. True if this call did it. Commits."""
    return _end_unsuccessfully(job_id, (JobStatus.QUEUED,), JobStatus.FAILED, *QUEUE_TIMEOUT, now=now)


def _end_unsuccessfully(job_id: str, leaving: tuple[str, ...], status: str, code: str, message: str,
                        now: datetime | None = None) -> bool:
    """The one way a job ends without a result: the status change, its refund and its event in one transaction."""
    ended = db.session.execute(
        update(JOBS).where(JOBS.c.id == job_id, JOBS.c.status.in_(leaving), JOBS.c.refunded.is_(False))
        .values(status=status, error_code=code, error_message=message[:2000], finished_at=now or utcnow(),
                refunded=True)
        .returning(JOBS.c.user_id, JOBS.c.credits, JOBS.c.webhook_url)
    ).first()
    if ended is None:
        db.session.rollback()
        return False
    credits.refund_job(ended.user_id, job_id, ended.credits, code)
    transition = record(db.session, job_id, status, with_webhooks=bool(ended.webhook_url))
    db.session.commit()
    transition.announce()
    return True
