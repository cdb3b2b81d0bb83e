"""The job lifecycle: every transition leaves a job_events row (written with the transition) and a Redis message
(after the commit), and a final one leaves the job's final mark for late waiters."""
from __future__ import annotations

import json
import time

from pixelforge.extensions import db
from pixelforge.lifecycle import channel, final_mark
from pixelforge.models import JobEvent
from pixelforge.queue import get_redis
from conftest import image_bytes


def kinds(job_id: str) -> list[str]:
    return list(db.session.scalars(db.select(JobEvent.kind).where(JobEvent.job_id == job_id)
                                   .order_by(JobEvent.id)))


def messages(pubsub, seconds: float = 1.0) -> list[dict]:
    found, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message and message["type"] == "pmessage":
            found.append(json.loads(message["data"]))
    return found


def test_a_job_that_runs_records_and_announces_each_step(api, work_queue):
    pubsub = get_redis().pubsub()
    pubsub.psubscribe(channel("*"))
    job_id = api.submit("upscale", image_bytes()).get_json()["job_id"]
    assert kinds(job_id) == ["queued"]
    work_queue()
    assert [kind for kind in kinds(job_id) if kind != "progress"] == ["queued", "processing", "done"]
    heard = [(m["event"], m["status"]) for m in messages(pubsub) if m["job_id"] == job_id and m["event"] != "progress"]
    assert heard == [("processing", "processing"), ("done", "done")]
    assert get_redis().get(final_mark(job_id)) == b"done"


def test_cancel_and_reaping_are_events_too(app, api):
    cancelled = api.submit("upscale", image_bytes()).get_json()["job_id"]
    api.post(f"/jobs/{cancelled}/cancel")
    assert kinds(cancelled) == ["queued", "cancelled"]
    assert get_redis().get(final_mark(cancelled)) == b"cancelled"

    from pixelforge.upkeep import reap_jobs

    expired = api.submit("upscale", image_bytes()).get_json()["job_id"]
    app.config["QUEUED_EXPIRE_SECONDS"] = 0
    reap_jobs()
    assert kinds(expired) == ["queued", "failed"]


def test_progress_is_announced_and_recorded_by_the_tenth(app):
    """The worker's progress writer: each throttled write is announced; a row only per tenth."""
    from workers import tasks

    from pixelforge.models import Job, JobStatus, User, utcnow

    user = User(email="p@example.com", plan="pro", credits=1)
    db.session.add(user)
    db.session.flush()
    job = Job(id="job-progress", user_id=user.id, operation="enhance", params={}, credits=1,
              status=JobStatus.PROCESSING, input_key="x", created_at=utcnow(), started_at=utcnow())
    db.session.add(job)
    db.session.commit()
    pubsub = get_redis().pubsub()
    pubsub.psubscribe(channel("job-progress"))
    tasks.PROGRESS_WRITE_INTERVAL, interval = 0.0, tasks.PROGRESS_WRITE_INTERVAL
    try:
        report = tasks._progress_writer("job-progress", progress_webhook=False)
        for fraction in (0.05, 0.12, 0.15, 0.31, 0.32):
            report(fraction)
    finally:
        tasks.PROGRESS_WRITE_INTERVAL = interval
    assert [m["progress"] for m in messages(pubsub)] == [0.05, 0.12, 0.15, 0.31, 0.32]
    rows = db.session.execute(db.select(JobEvent.kind, JobEvent.progress).where(JobEvent.job_id == "job-progress")
                              .order_by(JobEvent.id)).all()
    assert [tuple(row) for row in rows] == [("progress", 0.12), ("progress", 0.31)]
