"""Dashboard webhooks: the signing secret (the same the API gives), each key's default webhook (internal
addresses refused), the deliveries with their attempt log, and redelivery — each to its owner only."""
from __future__ import annotations

import re

import pytest

from conftest import image_bytes
from pixelforge.extensions import db
from pixelforge.models import ApiKey, WebhookDelivery

PASSWORD = "password123"


@pytest.fixture
def owner(client, make_user, make_key):
    user = make_user(password=PASSWORD)
    key = make_key(user)
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return user.id, key


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_the_page_shows_the_secret_the_api_gives(client, owner):
    _, key = owner
    html = _page(client, "/dashboard/webhooks")
    shown = re.search(r'data-testid="webhook-secret">(whsec_[A-Za-z0-9+/=]+)<', html).group(1)
    api = client.get("/api/v1/webhooks/secret", headers={"Authorization": f"Bearer {key}"}).get_json()["key"]
    assert shown == api
    client.post("/dashboard/webhooks/secret/rotate")
    assert shown not in _page(client, "/dashboard/webhooks")


def test_every_signed_in_page_links_to_webhooks(client, owner):
    for url in ("/dashboard", "/dashboard/webhooks"):
        html = _page(client, url)
        assert re.search(r'<a href="/dashboard/webhooks"[^>]*>Webhooks</a>', html), url
    assert 'href="/dashboard/webhooks" aria-current="page"' in _page(client, "/dashboard/webhooks")


def test_a_keys_default_webhook_is_saved_unless_it_points_inside(app, client, owner):
    user_id, key = owner
    record = db.session.scalar(db.select(ApiKey).filter_by(user_id=user_id))
    form, prefix, key_id = f"{record.prefix}-", record.prefix, record.id
    client.post(f"/dashboard/webhooks/keys/{prefix}",
                data={form + "url": "http://169.254.169.254/latest/", form + "events": ""})
    record = db.session.get(ApiKey, key_id, populate_existing=True)
    assert record.webhook_url is None
    assert "internal address" in _page(client, "/dashboard/webhooks")
    app.config["WEBHOOK_ALLOW_HOSTS"] = "127.0.0.1"
    client.post(f"/dashboard/webhooks/keys/{prefix}",
                data={form + "url": "http://127.0.0.1:9/hook", form + "events": "completed,progress"})
    record = db.session.get(ApiKey, key_id, populate_existing=True)
    assert (record.webhook_url, record.webhook_events) == ("http://127.0.0.1:9/hook", "completed,progress")


def test_deliveries_their_attempt_log_and_redelivery(app, client, owner, make_user):
    user_id, key = owner
    app.config["WEBHOOK_ALLOW_HOSTS"] = "127.0.0.1"
    headers = {"Authorization": f"Bearer {key}"}
    job_id = client.post("/api/v1/upscale", headers=headers, content_type="multipart/form-data",
                         data={"image": (__import__("io").BytesIO(image_bytes()), "p.png"),
                               "webhook_url": "http://127.0.0.1:9/hook"}).get_json()["job_id"]
    client.post(f"/api/v1/jobs/{job_id}/cancel", headers=headers)
    delivery_id = db.session.scalar(db.select(WebhookDelivery.id).filter_by(job_id=job_id))
    delivery = db.session.get(WebhookDelivery, delivery_id)
    listing = _page(client, "/dashboard/webhooks")
    assert delivery_id[:16] in listing and "cancelled" in listing
    detail = _page(client, f"/dashboard/webhooks/deliveries/{delivery_id}")
    assert "Attempt log" in detail and "Not attempted yet" in detail and job_id in detail
    assert client.post(f"/dashboard/webhooks/deliveries/{delivery_id}/redeliver").status_code == 302
    assert db.session.get(WebhookDelivery, delivery_id, populate_existing=True).status == "pending"

    client.post("/logout")
    stranger = make_user(password=PASSWORD)
    client.post("/login", data={"email": stranger.email, "password": PASSWORD})
    assert client.get(f"/dashboard/webhooks/deliveries/{delivery_id}").status_code == 404
    assert client.post(f"/dashboard/webhooks/deliveries/{delivery_id}/redeliver").status_code == 404
    assert delivery_id[:16] not in _page(client, "/dashboard/webhooks")
