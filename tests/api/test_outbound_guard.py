"""SSRF: webhook URLs and image URLs may not reach this network's insides (loopback, private, link-local, cloud
metadata), however the address is spelled, by a redirect, or by a DNS answer that changes between the check and
the connection; the operator's WEBHOOK_ALLOW_HOSTS is the only way in. Refusals are 422 and cost nothing."""
from __future__ import annotations

import io
import socket

import pytest
from PIL import Image

from pixelforge.extensions import db
from receivers import Receiver

INTERNAL_URLS = [
    "http://127.0.0.1:{port}/hook",
    "http://localhost:{port}/hook",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[::1]:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://0.0.0.0:{port}/hook",
    "http://2130706433:{port}/hook",  # 127.0.0.1 as one decimal number
    "http://0x7f.1:{port}/hook",  # and in inet_aton's shorthand
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.100.100.200/latest/meta-data/",  # Alibaba's metadata service (shared address space)
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS's IPv6 metadata service
]


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def quick_hooks(app):
    app.config["WEBHOOK_RETRY_SECONDS"] = [0]
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 2


def _send_webhooks():
    from rq import Queue, SimpleWorker

    from pixelforge.queue import get_redis
    from pixelforge.webhooks import webhook_queue_name

    redis = get_redis()
    SimpleWorker([Queue(webhook_queue_name(), connection=redis)], connection=redis).work(burst=True,
                                                                                       logging_level="WARNING")
    db.session.remove()


@pytest.mark.parametrize("template", INTERNAL_URLS)
def test_a_webhook_to_an_internal_address_is_refused_and_free(api, png, template):
    with Receiver() as internal:
        response = api.submit("upscale", png, webhook_url=template.format(port=internal.port))
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["code"], error["param"]) == ("url_refused", "webhook_url")
    assert api.user.credits == 10 and api.get("/jobs").get_json()["jobs"] == []
    assert internal.requests == []


@pytest.mark.parametrize("template", INTERNAL_URLS[:8])
def test_an_image_url_on_an_internal_address_is_refused_and_never_fetched(api, template):
    with Receiver(answers=[(200, {"content-type": "image/png"}, png_bytes())]) as internal:
        response = api.submit("upscale", image_url=template.format(port=internal.port))
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "url_refused"
    assert internal.requests == [] and api.user.credits == 10


def test_the_operator_allows_a_host_by_name_or_address(app, api, png):
    with Receiver() as receiver:
        app.config["WEBHOOK_ALLOW_HOSTS"] = "hooks.internal, 127.0.0.1"
        assert api.submit("upscale", png, webhook_url=receiver.url).status_code == 202
        app.config["WEBHOOK_ALLOW_HOSTS"] = "127.0.0.2"
        assert api.submit("upscale", png, webhook_url=receiver.url).status_code == 422


@pytest.mark.parametrize("url", ["ftp://example.com/x.png", "file:///etc/passwd", "gopher://127.0.0.1/",
                                 "http:///nohost", "not a url"])
def test_only_http_and_https_urls_are_taken(api, png, url):
    for fields in ({"webhook_url": url}, {"image_url": url}):
        response = api.submit("upscale", png if "webhook_url" in fields else None, **fields)
        assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_url"


def test_a_webhook_delivery_never_follows_a_redirect(app, api, png, work_queue, quick_hooks):
    """An allowed receiver answering 307 to an internal address must not turn the delivery into a request there."""
    app.config["WEBHOOK_ALLOW_HOSTS"] = "127.0.0.1"
    with Receiver(host="127.0.0.2") as internal, \
            Receiver(answers=[(307, {"location": f"{internal.url}/admin"}, b"")]) as outside:
        job_id = api.submit("upscale", png, webhook_url=outside.url + "/hook").get_json()["job_id"]
        work_queue()
        _send_webhooks()
        outside.wait_for(1)
        assert internal.requests == []
    (delivery,) = api.get(f"/webhooks/deliveries?job_id={job_id}").get_json()["deliveries"]
    assert delivery["last_status_code"] == 307 and "redirect" in delivery["last_error"]


def test_an_image_url_redirect_is_not_followed(app, api):
    app.config["WEBHOOK_ALLOW_HOSTS"] = "127.0.0.1"
    with Receiver(host="127.0.0.2", answers=[(200, {}, png_bytes())]) as internal, \
            Receiver(answers=[(302, {"location": f"{internal.url}/secret.png"}, b"")]) as outside:
        response = api.submit("upscale", image_url=outside.url + "/photo.png")
        assert internal.requests == []
    assert response.status_code == 422 and "redirect" in response.get_json()["error"]["message"]
    assert api.user.credits == 10


@pytest.fixture
def rebinding_dns(monkeypatch):
    """rebind.test answers 127.0.0.2 (allowed) for its first two look-ups, then 127.0.0.1 (internal): what a DNS
    rebinding attacker's name server does between a check and a connection."""
    real = socket.getaddrinfo
    answers = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        answers.append("127.0.0.2" if len(answers) < 2 else "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[-1], int(port or 80)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_dns_rebinding_cannot_move_a_delivery_to_an_internal_address(app, api, png, work_queue, quick_hooks,
                                                                     rebinding_dns):
    """The submission's check and the delivery's own look-up see 127.0.0.2; a third look-up would see 127.0.0.1.
    The delivery connects to the address it checked, so the internal server hears nothing."""
    app.config["WEBHOOK_ALLOW_HOSTS"] = "127.0.0.2"
    with Receiver(host="127.0.0.1") as internal, Receiver(host="127.0.0.2", port=internal.port) as allowed:
        response = api.submit("upscale", png, webhook_url=f"http://rebind.test:{internal.port}/hook")
        assert response.status_code == 202, response.get_json()
        work_queue()
        _send_webhooks()
        allowed.wait_for(1, timeout=5)
        assert internal.requests == []
        assert len(allowed.requests) == 1 and allowed.requests[0].headers["host"] == f"rebind.test:{internal.port}"


def test_dns_rebinding_cannot_move_an_image_fetch_to_an_internal_address(app, api, rebinding_dns):
    app.config["WEBHOOK_ALLOW_HOSTS"] = "127.0.0.2"
    with Receiver(host="127.0.0.1", answers=[(200, {}, b"internal secret")]) as internal, \
            Receiver(host="127.0.0.2", port=internal.port, answers=[(200, {}, png_bytes())]) as allowed:
        response = api.submit("upscale", image_url=f"http://rebind.test:{internal.port}/photo.png")
        assert internal.requests == [] and len(allowed.requests) == 1
    assert response.status_code == 202, response.get_json()
