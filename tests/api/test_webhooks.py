"""Webhooks: signed (Standard Webhooks) with the account's secret, sent by their own queue's sender (never a job
worker), retried with the attempt log kept, filtered by event, redeliverable; a key's default URL."""
from __future__ import annotations

import json
import time

import pytest

from pixelforge.extensions import db
from pixelforge.models import ApiKey, WebhookDelivery
from receivers import Receiver, verify_standard_webhook


@pytest.fixture
def allow_loopback(app):
    app.config["WEBHOOK_ALLOW_HOSTS"] = "127.0.0.1"
    app.config["WEBHOOK_RETRY_SECONDS"] = [0, 0]
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 5


@pytest.fixture
def send_webhooks(app):
    """Run the webhook queue's sender until the queue is empty (a burst), in this process."""

    def send() -> None:
        from rq import Queue, SimpleWorker

        from pixelforge.queue import get_redis
        from pixelforge.webhooks import webhook_queue_name

        redis = get_redis()
        SimpleWorker([Queue(webhook_queue_name(), connection=redis)], connection=redis).work(
            burst=True, logging_level="WARNING")
        db.session.remove()

    return send


def _submit_with_hook(api, png, url, **fields):
    response = api.submit("upscale", png, webhook_url=url, **fields)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["job_id"]


def test_a_finished_job_is_delivered_signed_with_the_accounts_secret(api, png, work_queue, send_webhooks,
                                                                     allow_loopback):
    with Receiver() as receiver:
        job_id = _submit_with_hook(api, png, receiver.url + "/hooks/pixelforge")
        work_queue()
        assert receiver.requests == []  # the job worker sent nothing itself
        send_webhooks()
        (got,) = receiver.wait_for(1)
    secret = api.get("/webhooks/secret").get_json()["key"]
    assert secret.startswith("whsec_")
    assert got.method == "POST" and got.path == "/hooks/pixelforge"
    assert got.headers["webhook-id"].startswith("msg_")
    assert verify_standard_webhook(secret, got.headers, got.body)
    assert not verify_standard_webhook("whsec_" + "A" * 44, got.headers, got.body)
    message = json.loads(got.body)
    assert message["type"] == "job.completed"
    assert message["data"]["job_id"] == job_id and message["data"]["status"] == "done"
    assert message["data"]["result_url"].endswith(f"/api/v1/jobs/{job_id}/download")
    deliveries = api.get(f"/webhooks/deliveries?job_id={job_id}").get_json()["deliveries"]
    assert [(d["status"], d["attempts"], d["event"]) for d in deliveries] == [("delivered", 1, "completed")]


def test_a_failing_receiver_is_retried_and_the_attempt_log_shows_it(api, png, work_queue, send_webhooks,
                                                                   allow_loopback):
    from pixelforge.webhooks import dispatch_due_deliveries

    with Receiver(answers=[(500, {}, b"down"), (200, {}, b"ok")]) as receiver:
        job_id = _submit_with_hook(api, png, receiver.url)
        work_queue()
        send_webhooks()
        (delivery,) = api.get(f"/webhooks/deliveries?job_id={job_id}").get_json()["deliveries"]
        assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 1, 500)
        assert "500" in delivery["last_error"]
        assert dispatch_due_deliveries() == 1  # upkeep: the retry is due (WEBHOOK_RETRY_SECONDS[0] = 0)
        assert dispatch_due_deliveries() == 0  # leased: a second round queues nothing more
        send_webhooks()
        receiver.wait_for(2)
    shown = api.get(f"/webhooks/deliveries/{delivery['delivery_id']}").get_json()
    assert shown["status"] == "delivered" and shown["attempts"] == 2
    assert [(a["number"], a["status_code"]) for a in shown["attempt_log"]] == [(1, 500), (2, 200)]
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]


def test_a_receiver_that_never_answers_well_ends_failed_after_the_schedule(api, png, work_queue, send_webhooks,
                                                                          allow_loopback):
    from pixelforge.webhooks import dispatch_due_deliveries

    with Receiver(answers=[(503, {}, b"no")]) as receiver:
        job_id = _submit_with_hook(api, png, receiver.url)
        work_queue()
        for _ in range(4):
            send_webhooks()
            dispatch_due_deliveries()
        assert len(receiver.requests) == 3  # the first try and the two retries of WEBHOOK_RETRY_SECONDS
    (delivery,) = api.get(f"/webhooks/deliveries?job_id={job_id}").get_json()["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3)


def test_redelivery_sends_the_same_message_again(api, png, work_queue, send_webhooks, allow_loopback):
    with Receiver() as receiver:
        job_id = _submit_with_hook(api, png, receiver.url)
        work_queue()
        send_webhooks()
        (delivery,) = api.get(f"/webhooks/deliveries?job_id={job_id}").get_json()["deliveries"]
        again = api.post(f"/webhooks/deliveries/{delivery['delivery_id']}/redeliver")
        assert again.status_code == 202 and again.get_json()["status"] == "pending"
        send_webhooks()
        first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery["delivery_id"]
    assert first.body == second.body
    shown = api.get(f"/webhooks/deliveries/{delivery['delivery_id']}").get_json()
    assert shown["status"] == "delivered" and len(shown["attempt_log"]) == 2


def test_someone_elses_delivery_is_404(api, png, work_queue, send_webhooks, allow_loopback, make_user, api_for):
    with Receiver() as receiver:
        job_id = _submit_with_hook(api, png, receiver.url)
        work_queue()
    (delivery,) = api.get(f"/webhooks/deliveries?job_id={job_id}").get_json()["deliveries"]
    other = api_for(make_user())
    assert other.get(f"/webhooks/deliveries/{delivery['delivery_id']}").status_code == 404
    assert other.post(f"/webhooks/deliveries/{delivery['delivery_id']}/redeliver").status_code == 404
    assert other.get(f"/webhooks/deliveries?job_id={job_id}").get_json()["deliveries"] == []


def test_only_the_events_asked_for_are_sent(api, png, work_queue, allow_loopback):
    with Receiver() as receiver:
        job_id = _submit_with_hook(api, png, receiver.url, webhook_events="failed,cancelled")
        work_queue()
    assert api.get(f"/webhooks/deliveries?job_id={job_id}").get_json()["deliveries"] == []
    refused = api.submit("upscale", png, webhook_url=receiver.url, webhook_events="completed,exploded")
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "unknown_webhook_event"


def test_a_cancelled_job_tells_its_webhook(api, png, allow_loopback):
    with Receiver() as receiver:
        job_id = _submit_with_hook(api, png, receiver.url)
        assert api.post(f"/jobs/{job_id}/cancel").status_code == 200
    (delivery,) = api.get(f"/webhooks/deliveries?job_id={job_id}").get_json()["deliveries"]
    assert delivery["event"] == "cancelled"
    stored = db.session.get(WebhookDelivery, delivery["delivery_id"])
    assert stored.payload["data"]["status"] == "cancelled" and stored.payload["data"]["refunded"] is True


def test_an_api_keys_default_webhook_applies_to_its_submissions(api, png, work_queue, allow_loopback):
    with Receiver() as receiver:
        key = db.session.scalar(db.select(ApiKey).filter_by(user_id=api.user_id))
        key.webhook_url = receiver.url + "/default"
        db.session.commit()
        job_id = api.submit("upscale", png).get_json()["job_id"]
        work_queue()
    (delivery,) = api.get(f"/webhooks/deliveries?job_id={job_id}").get_json()["deliveries"]
    assert delivery["url"] == receiver.url + "/default"


def test_a_slow_receiver_never_holds_the_job_worker(api, png, work_queue, allow_loopback):
    """The job worker only writes the delivery row and queues it; the sender (its own queue) does the HTTP."""
    with Receiver(delay=5) as receiver:
        job_id = _submit_with_hook(api, png, receiver.url)
        started = time.monotonic()
        work_queue()
        assert time.monotonic() - started < 5
    assert api.get(f"/jobs/{job_id}").get_json()["status"] == "done"
    assert receiver.requests == []
