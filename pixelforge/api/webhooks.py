"""GET /api/v1/webhooks/secret, the account's webhook deliveries, and POST …/redeliver."""
from __future__ import annotations

from flask import request
from flask_login import current_user

from pixelforge import webhooks
from pixelforge.api import bp
from pixelforge.job_json import iso
from pixelforge.operations import IntParam

_LIMIT = IntParam("limit", 20, 1, 100)


def delivery_body(delivery, attempts=None) -> dict:
    body = {"delivery_id": delivery.id, "job_id": delivery.job_id, "event": delivery.event, "url": delivery.url,
            "status": delivery.status, "attempts": delivery.attempts, "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error, "next_attempt_at": iso(delivery.next_attempt_at),
            "created_at": iso(delivery.created_at), "delivered_at": iso(delivery.delivered_at)}
    if attempts is not None:
        body["attempt_log"] = [{"number": a.number, "attempted_at": iso(a.attempted_at), "status_code": a.status_code,
                                "error": a.error, "duration_ms": a.duration_ms} for a in attempts]
        body["payload"] = delivery.payload
    return body


@bp.get("/webhooks/secret")
def webhook_secret():
    """The key that signs this account's webhooks (Standard Webhooks' whsec_ form)."""
    return {"key": webhooks.secret_for(current_user.id)}


@bp.get("/webhooks/deliveries")
def list_webhook_deliveries():
    raw_limit = request.args.get("limit")
    limit = _LIMIT.parse(raw_limit) if raw_limit else _LIMIT.default
    found = webhooks.list_deliveries(current_user.id, request.args.get("job_id") or None, limit)
    return {"deliveries": [delivery_body(delivery) for delivery in found]}


@bp.get("/webhooks/deliveries/<delivery_id>")
def show_webhook_delivery(delivery_id: str):
    delivery = webhooks.get_delivery(current_user.id, delivery_id)
    return delivery_body(delivery, webhooks.attempts_of(delivery.id))


@bp.post("/webhooks/deliveries/<delivery_id>/redeliver")
def redeliver_webhook(delivery_id: str):
    delivery = webhooks.redeliver(current_user.id, delivery_id)
    return delivery_body(delivery, webhooks.attempts_of(delivery.id)), 202
