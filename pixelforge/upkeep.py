"""Keeping the job table honest over time: reap abandoned jobs, requeue lost ones, send due webhook retries, delete
expired files and old events.

Run once per UPKEEP_EVERY_SECONDS for the whole cluster (run_upkeep_once_per_cluster: whichever worker, worker pool
or `serve` gets the Redis lock); all of it is idempotent, so running twice is safe (each refund is guarded by a
conditional status change in the lifecycle).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app

from pixelforge import lifecycle, queue, routing
from pixelforge.extensions import db
from pixelforge.models import Job, JobStatus, User, utcnow
from pixelforge.operations import get_operation
from pixelforge.plans import PLANS, get_plan, retention_seconds
from pixelforge.storage import StorageError, get_storage
from pixelforge.thumbnails import thumbnail_keys

log = logging.getLogger(__name__)


def is_abandoned(job: Job, now: datetime) -> bool:
    config = current_app.config
    if job.status == JobStatus.PROCESSING:
        last_sign = job.heartbeat_at or job.started_at or job.created_at
        return now - last_sign > timedelta(seconds=config["WORKER_LOST_AFTER_SECONDS"])
    return now - job.created_at > timedelta(seconds=config["QUEUED_EXPIRE_SECONDS"])


def reap_jobs() -> int:
    """Fail and refund jobs whose worker went silent or that waited in the queue too long. Returns how many."""
    config = current_app.config
    now = utcnow()
    lost_before = now - timedelta(seconds=config["WORKER_LOST_AFTER_SECONDS"])
    expired_before = now - timedelta(seconds=config["QUEUED_EXPIRE_SECONDS"])
    lost = db.session.scalars(db.select(Job.id).where(
        Job.status == JobStatus.PROCESSING,
        db.func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at) < lost_before)).all()
    expired = db.session.scalars(db.select(Job.id).where(
        Job.status == JobStatus.QUEUED, Job.created_at < expired_before)).all()
    reaped = sum(lifecycle.reap(job_id, now) for job_id in lost)
    reaped += sum(lifecycle.expire(job_id, now) for job_id in expired)
    if reaped:
        log.warning("reaped %d abandoned job(s)", reaped)
    return reaped


def requeue_missing_jobs() -> int:
    """Put back on the queue the jobs SQL says are queued but Redis lost (a restart, a flush). Returns how many."""
    queued = db.session.execute(db.select(Job.id, Job.operation, Job.params, Job.input_width, Job.input_height)
                                .where(Job.status == JobStatus.QUEUED)).all()
    if not queued:
        return 0
    present = queue.queued_job_ids()
    missing = [row for row in queued if row.id not in present]
    for row in missing:
        try:
            chosen = routing.route(get_operation(row.operation), row.params or {})
        except routing.ModelNotInstalled:  # its model's worker is gone: wait on that model's queue for it
            chosen = routing.waiting_route(row.operation, row.params or {})
        queue.enqueue_job(row.id, row.operation, row.params or {}, (row.input_width or 0) * (row.input_height or 0),
                          chosen.queue)
    if missing:
        log.warning("re-enqueued %d job(s) that the queue had lost", len(missing))
    return len(missing)


def purge_expired_results(batch: int = 500) -> int:
    """Delete inputs and results of jobs past their plan's retention; the rows stay, marked expired."""
    now = utcnow()
    purged = 0
    for plan_name in PLANS:
        cutoff = now - timedelta(seconds=retention_seconds(get_plan(plan_name)))
        rows = db.session.scalars(
            db.select(Job).join(User, User.id == Job.user_id)
            .where(User.plan == plan_name, Job.status.in_(JobStatus.FINAL), Job.expired_at.is_(None),
                   Job.finished_at < cutoff).limit(batch)).all()
        storage = get_storage()
        for job in rows:
            try:
                for key in (job.input_key, job.mask_key, job.result_key, *thumbnail_keys(job.id)):
                    if key:
                        storage.delete(key)
            except StorageError as exc:
                log.warning("could not delete files of expired job %s: %s", job.id, exc)
                continue
            job.expired_at = now
            purged += 1
        db.session.commit()
    return purged


def purge_old_events(batch: int = 5000) -> int:
    """Forget job events, and webhook deliveries that are settled, older than EVENT_RETENTION_SECONDS."""
    from pixelforge.models import JobEvent, WebhookAttempt, WebhookDelivery

    cutoff = utcnow() - timedelta(seconds=current_app.config["EVENT_RETENTION_SECONDS"])
    old = db.select(WebhookDelivery.id).where(WebhookDelivery.created_at < cutoff,
                                              WebhookDelivery.status.in_(("delivered", "failed"))).limit(batch)
    ids = db.session.scalars(old).all()
    if ids:
        db.session.execute(db.delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
        db.session.execute(db.delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    events = db.session.execute(db.delete(JobEvent).where(JobEvent.created_at < cutoff))
    db.session.commit()
    return len(ids) + (events.rowcount or 0)


def run_upkeep(include_requeue: bool = True) -> None:
    """One round of every upkeep task, each isolated so one failing does not stop the others."""
    from pixelforge.idempotency import purge_idempotency_records
    from pixelforge.webhooks import dispatch_due_deliveries

    tasks = [reap_jobs, dispatch_due_deliveries, purge_expired_results, purge_idempotency_records,
             purge_old_events]
    if include_requeue:
        tasks.insert(1, requeue_missing_jobs)
    for task in tasks:
        try:
            task()
        except Exception as exc:  # Redis or the database briefly down: try again next round
            db.session.rollback()
            log.warning("upkeep task %s failed: %s", task.__name__, exc)


UPKEEP_LOCK_KEY = "pixelforge:upkeep:lock"


def run_upkeep_once_per_cluster(redis, every_seconds: float) -> bool:
    """Run upkeep unless some process of the cluster (any host's serve, worker or worker pool) already did within
    every_seconds; True when this call ran it. Redis down: run anyway, every step is guarded by its own status
    change, so running twice costs only work."""
    try:
        if not redis.set(UPKEEP_LOCK_KEY, "1", nx=True, px=max(1, int(every_seconds * 1000))):
            return False
    except Exception as exc:
        log.warning("upkeep lock unavailable (%s); running upkeep here", exc)
    run_upkeep()
    return True
