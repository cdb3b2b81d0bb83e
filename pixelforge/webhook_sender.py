"""Sending one webhook attempt (the task of the webhook queue), recording it, and scheduling the next try.

An attempt is claimed by a conditional UPDATE (the delivery still pending, and this attempt the next one), so an
attempt queued twice is sent once. A 2xx answer delivers the message; anything else (a redirect included: it is
not followed) is a failed attempt, retried after WEBHOOK_RETRY_SECONDS[n] until that schedule runs out.
"""
from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import update

from pixelforge.extensions import db
from pixelforge.models import WebhookAttempt, WebhookDelivery, utcnow
from pixelforge.operations import ValidationFailed

log = logging.getLogger(__name__)

USER_AGENT = "PixelForge-Webhooks/1.0"
MAX_ERROR_CHARS = 500


def deliver(delivery_id: str, attempt: int) -> str:
    """Make attempt number `attempt` of a delivery; returns what became of it (delivered, pending, failed,
    skipped)."""
    try:
        if not _claim(delivery_id, attempt):
            return "skipped"
        delivery = db.session.get(WebhookDelivery, delivery_id)
        status_code, error, elapsed_ms = _send(delivery)
        return _record(delivery, attempt, status_code, error, elapsed_ms)
    finally:
        db.session.remove()


def _claim(delivery_id: str, attempt: int) -> bool:
    lease = timedelta(seconds=float(current_app.config["WEBHOOK_TIMEOUT_SECONDS"]) * 3 + 60)
    claimed = db.session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
                                      WebhookDelivery.attempts == attempt - 1)
        .values(status="sending", attempts=attempt, next_attempt_at=utcnow() + lease))
    db.session.commit()
    return claimed.rowcount == 1


def signed_request(delivery: WebhookDelivery, secret: str, now: float | None = None) -> tuple[bytes, dict]:
    """The body and headers of one attempt (a fresh timestamp and signature each time)."""
    from pixelforge.webhooks import sign

    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = int(now if now is not None else time.time())
    return body, {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": delivery.id,
                  "webhook-timestamp": str(timestamp),
                  "webhook-signature": sign(secret, delivery.id, timestamp, body)}


def _send(delivery: WebhookDelivery) -> tuple[int | None, str | None, int]:
    """(status code or None, error or None, milliseconds)."""
    from pixelforge import netguard
    from pixelforge.webhooks import secret_for

    body, headers = signed_request(delivery, secret_for(delivery.user_id))
    started = time.monotonic()
    try:
        answer = netguard.post(delivery.url, body, headers, float(current_app.config["WEBHOOK_TIMEOUT_SECONDS"]))
        status, error = answer.status, None
        if 300 <= status < 400:
            error = f"the receiver answered {status} (a redirect, not followed: give the final URL)"
        elif not 200 <= status < 300:
            error = f"the receiver answered {status}"
    except (netguard.FetchFailed, ValidationFailed) as exc:
        status, error = None, getattr(exc, "message", None) or str(exc)
    return status, error, int((time.monotonic() - started) * 1000)


def _record(delivery: WebhookDelivery, attempt: int, status_code: int | None, error: str | None,
            elapsed_ms: int) -> str:
    now = utcnow()
    error = error[:MAX_ERROR_CHARS] if error else None
    db.session.add(WebhookAttempt(delivery_id=delivery.id, number=attempt, attempted_at=now,
                                  status_code=status_code, error=error, duration_ms=elapsed_ms))
    delivery.last_status_code, delivery.last_error = status_code, error
    if error is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
    else:
        schedule = list(current_app.config["WEBHOOK_RETRY_SECONDS"])
        made = attempt - delivery.schedule_start
        if made <= len(schedule):
            delivery.status = "pending"
            delivery.next_attempt_at = now + timedelta(seconds=float(schedule[made - 1]))
        else:
            delivery.status, delivery.next_attempt_at = "failed", None
    db.session.commit()
    if error is not None:
        log.info("webhook %s attempt %d to %s failed: %s", delivery.id, attempt, delivery.url, error)
    return delivery.status


def run_sender(app, burst: bool = False) -> None:
    """`pixelforge webhooks`: send deliveries from the webhook queue until stopped (or, with burst, until it is
    empty). One RQ SimpleWorker: no fork per delivery; several senders (one per host) share the queue."""
    import os
    import socket
    import uuid

    from rq import Queue, SimpleWorker

    from pixelforge.queue import connect_redis
    from pixelforge.webhooks import webhook_queue_name

    redis = connect_redis(app.config["REDIS_URL"], socket_timeout=None)
    name = f"webhooks.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    with app.app_context():
        queue = Queue(webhook_queue_name(), connection=redis)
        log.info("webhook sender %s listens on %s", name, queue.name)
        SimpleWorker([queue], connection=redis, name=name).work(burst=burst, logging_level="WARNING")
