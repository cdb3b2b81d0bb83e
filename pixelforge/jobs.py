"""Jobs: validate a submission, charge for it, store its inputs, queue it (submit); read, list and cancel jobs."""
from __future__ import annotations

import base64
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, and_

from pixelforge import credits, images, lifecycle, queue, routing, sources
from pixelforge.job_errors import (JobAlreadyFinal, JobHasNoResult, JobNotFinished, JobNotFound,  # noqa: F401
                                   ResultExpired)
from pixelforge.job_options import JobOptions
from pixelforge.extensions import db
from pixelforge.models import Job, JobStatus, User, utcnow
from pixelforge.operations import Operation, ValidationFailed
from pixelforge.plans import get_plan, retention_seconds
from pixelforge.storage import ObjectMissing, StorageError, get_storage, job_object_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    """A validated request: everything submit_job needs, nothing HTTP-specific."""

    operation: Operation
    params: dict
    image: bytes
    mask: bytes | None
    header: images.ImageHeader
    mask_header: images.ImageHeader | None = None


def submit(user: User, operation: Operation, form: dict[str, str], image: bytes | None, mask: bytes | None,
           options: JobOptions | None = None) -> Job:
    """The one way a job comes in (API and playground), cheapest refusal first, so that a refused request costs no
    decode: 422 for what the request and the image headers show → 402 → 422 for pixels that do not decode or a
    mask that marks nothing or everything (decoded within the web's budget) → 503 → charge, store and queue.

    options (the API's): an image by URL or by job (fetched after a first, free 402 check), and a webhook.
    """
    options = options or JobOptions()
    image_param = "image"
    if options.remote_source:
        if image is not None:
            raise ValidationFailed("send the image one way: image, image_url or image_job_id", "image",
                                   "image_source_conflict")
        cost = operation.cost(operation.validate(form))
        if user.credits < cost:  # before fetching: a caller who cannot pay costs no download either
            raise credits.InsufficientCredits(cost, user.credits)
        image, image_param = sources.remote_image(user, options)
    submission = validate_submission(operation, form, image, mask, user.plan, image_param)
    check_affordable(user, submission)
    check_pixels(submission)
    return submit_job(user, submission, options)


def validate_submission(operation: Operation, form: dict[str, str], image: bytes | None, mask: bytes | None,
                        plan_name: str, image_param: str = "image") -> Submission:
    """Check parameters and what the image and mask headers show; raise ValidationFailed (422) on the first problem.

    Nothing is decoded here: check_pixels does that, once the caller is known to afford the job.
    """
    config = current_app.config
    if image is None:
        raise ValidationFailed("image is required: send it as a file field named 'image' (or give image_url or "
                               "image_job_id)", "image", "missing_file")
    params = operation.validate(form)
    header = images.read_header(image, image_param, config["MAX_INPUT_PIXELS"])
    size = header.oriented_size
    mask_header = None
    if operation.needs_mask:
        if mask is None:
            raise ValidationFailed("mask is required: a black image, white where to change", "mask", "missing_file")
        mask_header = images.read_header(mask, "mask", config["MAX_INPUT_PIXELS"])
        if mask_header.oriented_size != size:
            width, height = mask_header.oriented_size
            raise ValidationFailed(f"mask is {width}×{height} but the image is {size[0]}×{size[1]}; they must match",
                                   "mask", "mask_size_mismatch")
    elif mask is not None:
        raise ValidationFailed(f"{operation.name} takes no mask", "mask", "unknown_parameter")
    scale = operation.output_scale(params)
    out_pixels = size[0] * scale * size[1] * scale
    cap = get_plan(plan_name).max_output_pixels or config["MAX_OUTPUT_PIXELS"]
    if out_pixels > cap:
        raise ValidationFailed(f"the result would be {size[0] * scale}×{size[1] * scale} = "
                               f"{out_pixels:,} pixels; the limit is {cap:,}", "image", "output_too_large")
    return Submission(operation, params, image, mask, header, mask_header)


def check_affordable(user: User, submission: Submission) -> None:
    """InsufficientCredits (402) before any pixel is decoded: this check is free, a decode is not."""
    cost = submission.operation.cost(submission.params)
    if user.credits < cost:
        raise credits.InsufficientCredits(cost, user.credits)


def check_pixels(submission: Submission) -> None:
    """ValidationFailed (422) unless the image and mask decode and the mask marks some pixels but not all."""
    images.check_decodable(submission.image, submission.header, "image")
    if submission.mask is not None:
        images.check_mask(submission.mask, submission.mask_header, "mask")


def submit_job(user: User, submission: Submission, options: JobOptions | None = None) -> Job:
    """Charge, store and queue a job, with its `queued` event; raises InsufficientCredits (402), QueueUnavailable
    (503), StorageFull (507), StorageError (502)."""
    operation, params = submission.operation, submission.params
    options = options or JobOptions()
    webhook = options.webhook
    cost = operation.cost(params)
    if user.credits < cost:
        raise credits.InsufficientCredits(cost, user.credits)
    queue.ensure_queue_ready()
    chosen = routing.route(operation, params)  # 503 when only a model could run it and no live worker has one

    job_id = str(uuid.uuid4())
    storage = get_storage()
    input_key = job_object_key(job_id, "input")
    mask_key = job_object_key(job_id, "mask") if submission.mask is not None else None
    try:
        storage.put(input_key, submission.image)
        if mask_key:
            storage.put(mask_key, submission.mask)
    except StorageError:  # e.g. StorageFull (507) for the mask: the stored input goes too; nothing is charged yet
        _delete_quietly(storage, input_key)
        raise

    job = Job(id=job_id, user_id=user.id, operation=operation.name, params=params, status=JobStatus.QUEUED,
              credits=cost, input_key=input_key, mask_key=mask_key, input_width=submission.header.width,
              input_height=submission.header.height, created_at=utcnow(),
              webhook_url=webhook.url if webhook else None, webhook_events=webhook.events if webhook else None,
              public_url=options.public_url if webhook else None)
    try:
        db.session.add(job)
        db.session.flush()  # the ledger row refers to the job
        credits.reserve_credits(user.id, cost, job_id)
        lifecycle.queued(job_id)
        db.session.commit()
    except credits.InsufficientCredits:
        db.session.rollback()
        _delete_quietly(storage, input_key, mask_key)
        raise

    try:
        queue.enqueue_job(job_id, operation.name, params, submission.header.width * submission.header.height,
                          chosen.queue)
    except queue.QueueUnavailable as exc:
        lifecycle.fail(job_id, "queue_unavailable", str(exc))
        raise
    return job


def _delete_quietly(storage, *keys) -> None:
    for key in keys:
        if key:
            try:
                storage.delete(key)
            except StorageError:
                log.warning("could not delete %s after a refused submission", key)


def get_job(user: User, job_id: str) -> Job:
    """The caller's job, reaped first if its worker went silent; JobNotFound otherwise."""
    job = db.session.get(Job, job_id) if len(job_id) <= 36 else None
    if job is None or job.user_id != user.id:
        raise JobNotFound(f"no job {job_id!r}")
    if _reaped_if_abandoned(job):
        db.session.refresh(job)
    return job


_SNAPSHOT = db.select(Job.__table__).where(Job.__table__.c.id == db.bindparam("job_id"),
                                           Job.__table__.c.user_id == db.bindparam("user_id"))


def job_snapshot(user: User, job_id: str):
    """The caller's job as a read-only row (columns by the Job attribute names), reaped first if its worker went
    silent; JobNotFound otherwise.

    Status polls are the API's most frequent request and need no ORM object: one compiled SELECT on a pooled
    connection costs about a third of the CPU of session.get (bench/RESULTS.md, "status reads without the ORM").
    """
    if len(job_id) > 36:
        raise JobNotFound(f"no job {job_id!r}")
    for _ in range(2):  # a second read only after reaping changed the row
        with db.engine.connect() as connection:
            row = connection.execute(_SNAPSHOT, {"job_id": job_id, "user_id": user.id}).first()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        if not _reaped_if_abandoned(row):
            break
    return row


def _reaped_if_abandoned(job) -> bool:
    """Reap (fail and refund) abandoned jobs when this active one is among them; True when that ran."""
    if job.status not in JobStatus.ACTIVE:
        return False
    from pixelforge.upkeep import is_abandoned, reap_jobs

    if not is_abandoned(job, utcnow()):
        return False
    reap_jobs()
    return True


def result_expires_at(job: Job, plan_name: str) -> datetime | None:
    """When a finished job's files are deleted under its owner's plan (plan_name: the owner's plan)."""
    if job.finished_at is None:
        return None
    return job.finished_at + timedelta(seconds=retention_seconds(get_plan(plan_name)))


def read_result(user: User, job_id: str) -> tuple[Job, bytes]:
    """The finished job's result bytes; JobNotFinished (409), JobHasNoResult (502), ResultExpired (410)."""
    job = get_job(user, job_id)
    if job.status in JobStatus.ACTIVE:
        raise JobNotFinished(f"job {job.id} is {job.status}; poll GET /api/v1/jobs/{job.id} until it is done")
    if job.status != JobStatus.DONE or not job.result_key:
        raise JobHasNoResult(job)
    if job.expired_at is not None or utcnow() >= result_expires_at(job, user.plan):
        raise ResultExpired(f"the result of job {job.id} was deleted after the retention period; "
                            "submit the job again to get a new result")
    try:
        return job, get_storage().get(job.result_key)
    except ObjectMissing:
        raise ResultExpired(f"the result of job {job.id} is no longer stored; submit the job again") from None


def cancel_job(user: User, job_id: str) -> Job:
    """Cancel a queued or processing job and refund it; JobAlreadyFinal (409) when it has ended."""
    job = get_job(user, job_id)
    if not lifecycle.cancel(job.id):
        db.session.refresh(job)
        raise JobAlreadyFinal(f"job {job.id} is already {job.status}")
    queue.remove_from_queue(job.id)
    db.session.refresh(job)
    return job


def list_jobs(user: User, limit: int = 20, cursor: str | None = None) -> tuple[list[Job], str | None]:
    """The caller's jobs newest first, and the cursor of the next page (None on the last page)."""
    query = db.select(Job).where(Job.user_id == user.id)
    if cursor:
        created_at, job_id = _decode_cursor(cursor)
        query = query.where(or_(Job.created_at < created_at, and_(Job.created_at == created_at, Job.id < job_id)))
    rows = list(db.session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)))
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _encode_cursor(job: Job) -> str:
    raw = f"{job.created_at.isoformat(timespec='microseconds')}|{job.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, job_id = raw.split("|", 1)
        return datetime.fromisoformat(created), job_id
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("cursor is not one this API returned", "cursor") from None


