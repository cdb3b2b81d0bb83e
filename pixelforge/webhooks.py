"""Webhooks as Standard Webhooks messages: which job events a URL hears, the delivery rows a transition writes
(in its own transaction, see lifecycle), each account's signing secret, the signature, and the delivery queue.

Sending is the sender process's work (webhook_sender.py, on its own RQ queue), so a slow or dead receiver never
holds a job worker. A delivery whose queue entry is lost (Redis restarted) or whose retry is due is queued again
by upkeep (dispatch_due_deliveries), once per cluster.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import insert, select, update

from pixelforge.config import RQ_FAILURE_TTL_SECONDS
from pixelforge.errors import NotFound
from pixelforge.extensions import db
from pixelforge.models import User, WebhookAttempt, WebhookDelivery, utcnow
from pixelforge.operations import ValidationFailed

log = logging.getLogger(__name__)

EVENTS = ("completed", "failed", "cancelled", "progress")
DEFAULT_EVENTS = ("completed", "failed", "cancelled")
EVENT_FOR_KIND = {"done": "completed", "failed": "failed", "cancelled": "cancelled", "progress": "progress"}
SECRET_PREFIX = "whsec_"
MAX_URL_CHARS = 2000


class DeliveryNotFound(NotFound, LookupError):
    """No webhook delivery with that id belongs to the caller (HTTP 404)."""

    code, public_message = "delivery_not_found", "webhook delivery not found"


def parse_events(raw: str | None, param: str = "webhook_events") -> str | None:
    """The events as stored (comma-separated, in EVENTS order), None for the default; 422 for an unknown one."""
    if raw is None or not raw.strip():
        return None
    wanted = {part.strip().lower() for part in raw.split(",") if part.strip()}
    unknown = sorted(wanted - set(EVENTS))
    if unknown:
        raise ValidationFailed(f"{param} takes {', '.join(EVENTS)} (comma-separated); not {', '.join(unknown)}",
                               param, "unknown_webhook_event")
    return ",".join(event for event in EVENTS if event in wanted)


def subscribed(events: str | None) -> tuple[str, ...]:
    return tuple(events.split(",")) if events else DEFAULT_EVENTS


# --- secrets and signatures -------------------------------------------------------------------------------

def secret_for(user_id: int) -> str:
    """The account's signing secret ("whsec_" + base64 of 32 random bytes), made on first use. Commits."""
    current = db.session.scalar(select(User.webhook_secret).where(User.id == user_id))
    if current:
        return current
    fresh = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    db.session.execute(update(User).where(User.id == user_id, User.webhook_secret.is_(None))
                       .values(webhook_secret=fresh))
    db.session.commit()
    return db.session.scalar(select(User.webhook_secret).where(User.id == user_id))  # a racing first use wins


def rotate_secret(user_id: int) -> str:
    """A new secret; messages signed from now on verify only with it. Commits."""
    db.session.execute(update(User).where(User.id == user_id).values(webhook_secret=None))
    db.session.commit()
    return secret_for(user_id)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks' signature header value: "v1," + base64(HMAC-SHA256(key, "id.timestamp.body"))."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


# --- deliveries ---------------------------------------------------------------------------------------------

def create_deliveries(executor, job_row, event: str) -> list[str]:
    """A pending delivery for this event when the job's webhook hears it; its id, else []. Inside the caller's
    transaction, through its session or connection."""
    if event not in subscribed(job_row.webhook_events):
        return []
    plan = executor.execute(select(User.plan).where(User.id == job_row.user_id)).scalar() or "free"
    delivery_id = f"msg_{uuid.uuid4().hex}"
    executor.execute(insert(WebhookDelivery).values(
        id=delivery_id, user_id=job_row.user_id, job_id=job_row.id, event=event, url=job_row.webhook_url,
        payload=message_payload(job_row, plan, event), status="pending", attempts=0, schedule_start=0,
        next_attempt_at=utcnow() + _requeue_after(), created_at=utcnow()))
    return [delivery_id]


def message_payload(job_row, plan: str, event: str) -> dict:
    from pixelforge.job_json import iso, job_json, stored_result_url

    root = current_app.config["PUBLIC_URL"] or job_row.public_url or "http://127.0.0.1:8000/"
    result_url = stored_result_url(job_row, root) if job_row.status == "done" else None
    return {"type": f"job.{event}", "timestamp": iso(utcnow()), "data": job_json(job_row, plan, result_url)}


def _requeue_after() -> timedelta:
    """How long a queued attempt may wait before upkeep assumes its queue entry was lost and queues it again."""
    return timedelta(seconds=float(current_app.config["WEBHOOK_REQUEUE_SECONDS"]))


def webhook_queue_name() -> str:
    return f"{current_app.config['QUEUE_NAME']}:webhooks"


def enqueue_deliveries(delivery_ids: list[str], attempt_of: dict[str, int] | None = None) -> None:
    """Put deliveries on the sender's queue (best effort: upkeep queues again what does not arrive)."""
    from rq import Queue

    from pixelforge.queue import get_redis
    from pixelforge.webhook_sender import deliver

    try:
        queue = Queue(webhook_queue_name(), connection=get_redis())
        for delivery_id in delivery_ids:
            attempt = (attempt_of or {}).get(delivery_id, 1)
            queue.enqueue(deliver, delivery_id, attempt, job_id=f"{delivery_id}-{attempt}",
                          job_timeout=int(current_app.config["WEBHOOK_TIMEOUT_SECONDS"]) * 3 + 30,
                          result_ttl=0, failure_ttl=RQ_FAILURE_TTL_SECONDS)
    except Exception as exc:  # Redis away: the rows wait for upkeep
        log.warning("could not queue webhook deliveries %s: %s", delivery_ids, exc)


def dispatch_due_deliveries(batch: int = 200) -> int:
    """Queue deliveries whose retry is due, or whose queued attempt never arrived; how many. Each is leased
    (next_attempt_at moved on) by a conditional UPDATE, so two upkeep rounds never queue one twice."""
    now = utcnow()
    due = db.session.execute(select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookDelivery.next_attempt_at)
                             .where(WebhookDelivery.status.in_(("pending", "sending")),
                                    WebhookDelivery.next_attempt_at <= now)
                             .order_by(WebhookDelivery.next_attempt_at).limit(batch)).all()
    queued: dict[str, int] = {}
    for row in due:
        leased = db.session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == row.id,
                                          WebhookDelivery.next_attempt_at == row.next_attempt_at)
            .values(status="pending", next_attempt_at=now + _requeue_after()))
        if leased.rowcount == 1:
            queued[row.id] = row.attempts + 1
    db.session.commit()
    if queued:
        enqueue_deliveries(list(queued), queued)
    return len(queued)


def redeliver(user_id: int, delivery_id: str) -> WebhookDelivery:
    """Send a delivery again, with a fresh retry schedule (the same message id, so receivers can dedupe)."""
    delivery = get_delivery(user_id, delivery_id)
    delivery.status = "pending"
    delivery.schedule_start = delivery.attempts
    delivery.next_attempt_at = utcnow() + _requeue_after()
    db.session.commit()
    enqueue_deliveries([delivery.id], {delivery.id: delivery.attempts + 1})
    return delivery


def get_delivery(user_id: int, delivery_id: str) -> WebhookDelivery:
    delivery = db.session.get(WebhookDelivery, delivery_id) if len(delivery_id) <= 40 else None
    if delivery is None or delivery.user_id != user_id:
        raise DeliveryNotFound(f"no webhook delivery {delivery_id!r}")
    return delivery


def list_deliveries(user_id: int, job_id: str | None = None, limit: int = 20) -> list[WebhookDelivery]:
    """The account's deliveries, newest first (one job's when job_id is given)."""
    query = select(WebhookDelivery).where(WebhookDelivery.user_id == user_id)
    if job_id:
        query = query.where(WebhookDelivery.job_id == job_id)
    return list(db.session.scalars(query.order_by(WebhookDelivery.created_at.desc(),
                                                  WebhookDelivery.id.desc()).limit(limit)))


def attempts_of(delivery_id: str) -> list[WebhookAttempt]:
    return list(db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
                                   .order_by(WebhookAttempt.number)))
