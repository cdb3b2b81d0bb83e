"""Playground runs go through the API's own path (jobs.submit, after the rate limit), then poll the job row.

Everything here runs in a worker thread of the Gradio server, each step in its own Flask app context
(a fresh database session per poll, so each read sees the worker's latest commit).
"""
from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from flask import Flask
from PIL import Image

POLL_SECONDS = 0.5
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
    result: bytes | None = None
    result_type: str | None = None
    error: str | None = None
    balance: int | None = None

    @property
    def final(self) -> bool:
        from pixelforge.models import JobStatus

        return self.status in JobStatus.FINAL


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def mask_from_layers(layers: list[Image.Image], size: tuple[int, int]) -> bytes | None:
    """The painted strokes as a black PNG, white where painted (any layer's alpha); None when nothing is."""
    painted = np.zeros((size[1], size[0]), dtype=bool)
    for layer in layers:
        if layer is None:
            continue
        rgba = layer.convert("RGBA")
        if rgba.size != size:
            rgba = rgba.resize(size, Image.Resampling.NEAREST)
        painted |= np.asarray(rgba.getchannel("A")) > 0
    if not painted.any():
        return None
    return png_bytes(Image.fromarray(painted.astype(np.uint8) * 255, "L"))


def _failure(exc: Exception) -> RunFailed | None:
    """The domain's named exceptions, worded for a person (the API's status codes alongside)."""
    from pixelforge.credits import InsufficientCredits
    from pixelforge.operations import ValidationFailed
    from pixelforge.queue import QueueUnavailable
    from pixelforge.ratelimit import RateLimited
    from pixelforge.storage import StorageError, StorageFull

    if isinstance(exc, ValidationFailed):
        return RunFailed(422, "Check your input", exc.message)
    if isinstance(exc, InsufficientCredits):
        return RunFailed(402, "Not enough credits", f"This run costs {exc.needed} credit(s) and your balance is "
                                                    f"{exc.balance}. See Credits in the dashboard.")
    if isinstance(exc, RateLimited):
        return RunFailed(429, "Too many runs", f"Your plan allows {exc.decision.limit} runs per minute. "
                                               f"Try again in {exc.decision.retry_after} s.")
    if isinstance(exc, QueueUnavailable):
        return RunFailed(503, "Service unavailable", str(exc))
    if isinstance(exc, StorageFull):
        return RunFailed(507, "Storage full", "The server has no room for this image now; nothing was charged.")
    if isinstance(exc, StorageError):
        return RunFailed(502, "Storage error", f"{exc}; please try again later.")
    return None


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
        return JobView(job.id, job.status, 0.0, job.credits, balance=user.credits)


def read_job(flask_app: Flask, user_id: int, job_id: str) -> JobView:
    """The job as it is now, with the result's bytes once it is done."""
    from pixelforge.jobs import JobNotFound, get_job
    from pixelforge.models import JobStatus
    from pixelforge.storage import StorageError, get_storage

    with flask_app.app_context():
        user = _load_user(user_id)
        try:
            job = get_job(user, job_id)
        except JobNotFound:
            raise RunFailed(404, "Job not found", f"job {job_id} is not yours or no longer exists") from None
        result = None
        if job.status == JobStatus.DONE and job.result_key:
            try:
                result = get_storage().get(job.result_key)
            except StorageError as exc:
                raise _failure(exc) from exc
        return JobView(job.id, job.status, job.progress or 0.0, job.credits, job.engine, result, job.result_type,
                       job.error_message, user.credits)


def follow(flask_app: Flask, user_id: int, job_id: str, operation_name: str) -> Iterator[JobView]:
    """Yield the job at each poll until it is final (the last view yielded) or the wait runs out."""
    timeout = flask_app.config["JOB_TIMEOUTS"].get(operation_name, 600) + WAIT_SLACK_SECONDS
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
