"""The worker process: an RQ worker that does not fork per job, so models stay loaded between jobs.

RQ's SimpleWorker sends no heartbeat while a job runs, so a thread of ours does: it marks this worker
alive in Redis, stamps the running job's row, and reaps jobs whose own worker went silent.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from flask import Flask
from sqlalchemy import update

from pixelforge.extensions import db
from pixelforge.jobs import reap_jobs
from pixelforge.models import Job, JobStatus, utcnow
from pixelforge.queue import connect_redis, forget_worker, record_worker_heartbeat
from workers.tasks import CurrentJob

log = logging.getLogger(__name__)

REAP_EVERY_SECONDS = 10.0


def worker_name() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


class Heartbeat(threading.Thread):
    """Keeps this worker visibly alive and its current job from being reaped."""

    def __init__(self, app: Flask, redis, name: str):
        super().__init__(name="pixelforge-heartbeat", daemon=True)
        self.app, self.redis, self.worker = app, redis, name
        self.stopping = threading.Event()

    def run(self) -> None:
        interval = self.app.config["WORKER_HEARTBEAT_SECONDS"]
        last_reap = 0.0
        while not self.stopping.is_set():
            with self.app.app_context():
                self.beat()
                if time.monotonic() - last_reap > REAP_EVERY_SECONDS:
                    last_reap = time.monotonic()
                    self.reap()
            self.stopping.wait(interval)

    def beat(self) -> None:
        try:
            record_worker_heartbeat(self.redis, self.worker)
        except Exception as exc:  # Redis down: keep stamping SQL so our job is not reaped
            log.warning("could not record heartbeat in Redis: %s", exc)
        job_id = CurrentJob.get()
        if job_id:
            try:
                with db.engine.begin() as connection:
                    connection.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.PROCESSING)
                                       .values(heartbeat_at=utcnow()))
            except Exception as exc:
                log.warning("could not stamp heartbeat of job %s: %s", job_id, exc)

    def reap(self) -> None:
        try:
            reap_jobs()
        except Exception as exc:
            log.warning("reaping failed: %s", exc)
        finally:
            db.session.remove()


def run_worker(app: Flask, burst: bool = False, max_jobs: int | None = None) -> None:
    """Work the queue until stopped (or, with burst, until it is empty)."""
    from rq import Queue, SimpleWorker

    from workers.inference import describe_runtime

    redis = connect_redis(app.config["REDIS_URL"], socket_timeout=None)
    name = worker_name()
    heartbeat = Heartbeat(app, redis, name)
    log.info("worker %s starting: %s", name, describe_runtime())
    heartbeat.beat()
    heartbeat.start()
    try:
        with app.app_context():
            queue = Queue(app.config["QUEUE_NAME"], connection=redis)
            worker = SimpleWorker([queue], connection=redis, name=name)
            worker.work(burst=burst, max_jobs=max_jobs or app.config["WORKER_MAX_JOBS"], logging_level="WARNING")
    finally:
        heartbeat.stopping.set()
        try:
            forget_worker(redis, name)
        except Exception:
            pass
