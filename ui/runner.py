"""Playground runs go through the API's own path (jobs.submit, after the rate limit), then poll the job row.

Everything here runs in a worker thread of the Gradio server, each step in its own Flask app context
(a fresh database session per poll, so each read sees the worker's latest commit).
"""
from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask
from PIL import Image

POLL_SECONDS = 0.2  # a finished job shows within this (plus a preview's making) of its finished_at
WAIT_SLACK_SECONDS = 60  # beyond the job's own timeout, before the playground stops waiting


class RunFailed(Exception):
    """A run the playground cannot start or finish; status mirrors the API's status code for the same cause."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@dataclass(frozen=True)
class JobView:
    """What the playground shows of a job: a plain snapshot, no ORM object leaves the app context."""

    id: str
    status: str
    progress: float
    credits: int
    engine: str | None = None
    result_type: str | None = None
    error: str | None = None
    balance: int | None = None
    model: str | None = None
    error_code: str | None = None
    info: dict = field(default_factory=dict)
    operation: str = ""
    params: dict = field(default_factory=dict)
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    queue_position: int | None = None  # 1 = next to start; only while queued
    refunded: bool = False

    @property
    def final(self) -> bool:
        from pixelforge.models import JobStatus

        return self.status in JobStatus.FINAL


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


MAX_STROKES = 2000
MAX_POINTS = 200_000


def mask_from_strokes(strokes, size: tuple[int, int]) -> bytes | None:
    """The painter's strokes ([{"size": px, "points": [[x, y], …]}, …] in image pixels) as a black PNG, white
    where painted; None when nothing is. Anything malformed is ignored, not trusted."""
    from PIL import ImageDraw

    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    painted, budget = False, MAX_POINTS
    for stroke in strokes[:MAX_STROKES] if isinstance(strokes, list) else []:
        points = _stroke_points(stroke, budget)
        if not points:
            continue
        budget -= len(points)
        width = max(1, min(int(stroke.get("size") or 1), 4 * max(size)))
        radius = width / 2
        for x, y in points:  # round ends and joints
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
        if len(points) > 1:
            draw.line(points, fill=255, width=width)
        painted = True
    if not painted or mask.getbbox() is None:
        return None
    return png_bytes(mask)


def _stroke_points(stroke, budget: int) -> list[tuple[float, float]]:
    raw = stroke.get("points") if isinstance(stroke, dict) else None
    if not isinstance(raw, list) or budget <= 0:
        return []
    points = []
    for point in raw[:budget]:
        if (isinstance(point, list) and len(point) == 2
                and all(isinstance(v, (int, float)) and -1e6 < v < 1e6 for v in point)):
            points.append((float(point[0]), float(point[1])))
    return points


def _failure(exc: Exception) -> RunFailed | None:
    """The domain's named errors, worded for a person (the API's status codes alongside); None for anything else."""
    from pixelforge.errors import PixelForgeError

    return RunFailed(exc.status, exc.title, exc.person_message()) if isinstance(exc, PixelForgeError) else None


def _load_user(user_id: int):
    from pixelforge.extensions import db
    from pixelforge.models import User

    user = db.session.get(User, user_id)
    if user is None:
        raise RunFailed(401, "Signed out", "Your session has ended; sign in again.")
    return user


def submit(flask_app: Flask, user_id: int, operation_name: str, form: dict[str, str], image: bytes | None,
           mask: bytes | None) -> JobView:
    """The API's path in the API's order: signed in (401), within the plan's rate limit (429), then jobs.submit
    (422 from what the headers show → 402 → 422 from the pixels → 503), charged and queued."""
    from pixelforge import jobs, ratelimit
    from pixelforge.operations import get_operation
    from pixelforge.plans import get_plan

    with flask_app.app_context():
        try:
            user = _load_user(user_id)
            ratelimit.check_submission(user.id, get_plan(user.plan))
            job = jobs.submit(user, get_operation(operation_name), form, image, mask)
        except Exception as exc:
            failure = _failure(exc)
            if failure is None:
                raise
            raise failure from exc
        return JobView(job.id, job.status, 0.0, job.credits, balance=user.credits, operation=operation_name,
                       created_at=job.created_at)


def _queue_position(job) -> int | None:
    from pixelforge.extensions import db
    from pixelforge.models import Job, JobStatus

    if job.status != JobStatus.QUEUED:
        return None
    ahead = db.session.scalar(db.select(db.func.count(Job.id)).where(Job.status == JobStatus.QUEUED,
                                                                      Job.created_at < job.created_at))
    return int(ahead or 0) + 1


def read_job(flask_app: Flask, user_id: int, job_id: str) -> JobView:
    """The job as it is now (no result bytes: the browser fetches a preview of the result itself)."""
    from pixelforge.jobs import JobNotFound, get_job

    with flask_app.app_context():
        user = _load_user(user_id)
        try:
            job = get_job(user, job_id)
        except JobNotFound:
            raise RunFailed(404, "Job not found", f"job {job_id} is not yours or no longer exists") from None
        return JobView(job.id, job.status, job.progress or 0.0, job.credits, job.engine, job.result_type,
                       job.error_message, user.credits, job.model, job.error_code, dict(job.info or {}),
                       job.operation, dict(job.params or {}), job.created_at, job.started_at, job.finished_at,
                       _queue_position(job), bool(job.refunded))


def cancel(flask_app: Flask, user_id: int, job_id: str) -> JobView | None:
    """Cancel the job and refund it (jobs.cancel_job); None when it had already ended."""
    from pixelforge.jobs import JobAlreadyFinal, JobNotFound, cancel_job

    with flask_app.app_context():
        try:
            cancel_job(_load_user(user_id), job_id)
        except (JobAlreadyFinal, JobNotFound):
            return None
    return read_job(flask_app, user_id, job_id)


def result_bytes(flask_app: Flask, user_id: int, job_id: str) -> bytes:
    """A done job's result, for using it as the next tool's input."""
    from pixelforge.jobs import JobHasNoResult, JobNotFinished, JobNotFound, ResultExpired, read_result
    from pixelforge.storage import StorageError

    with flask_app.app_context():
        try:
            return read_result(_load_user(user_id), job_id)[1]
        except (JobNotFound, JobNotFinished, JobHasNoResult, ResultExpired):
            raise RunFailed(410, "No result", "That result is no longer available; run the tool again.") from None
        except StorageError as exc:
            raise _failure(exc) from exc


def follow(flask_app: Flask, user_id: int, job_id: str, operation_name: str) -> Iterator[JobView]:
    """Yield the job at each poll until it is final (the last view yielded) or the wait runs out."""
    from pixelforge.queue import job_timeout

    with flask_app.app_context():
        timeout = job_timeout(operation_name) + WAIT_SLACK_SECONDS
    deadline = time.monotonic() + timeout
    while True:
        view = read_job(flask_app, user_id, job_id)
        yield view
        if view.final:
            return
        if time.monotonic() > deadline:
            raise RunFailed(504, "Still running", f"Job {job_id} is still {view.status}; follow it on the Jobs "
                                                  "page of the dashboard.")
        time.sleep(POLL_SECONDS)
