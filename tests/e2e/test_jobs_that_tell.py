"""Issue 16 as it will be checked, against `pixelforge serve` (web, worker, webhook sender, embedded Redis):
a loopback receiver gets a delivery that verifies with the account's secret; a failing receiver is retried and the
attempt log shows it; an internal address is refused; `Prefer: wait=30` returns the finished job in one request;
the seed's curl flow typed straight through yields a PNG; the event stream ends with the final job."""
from __future__ import annotations

import io
import json
import subprocess
import time

import numpy as np
import pytest
import requests
from PIL import Image

from receivers import Receiver, verify_standard_webhook
from service import LiveService

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    env = {"PIXELFORGE_WEBHOOK_ALLOW_HOSTS": "127.0.0.1", "PIXELFORGE_UPKEEP_EVERY_SECONDS": "0.5",
           "PIXELFORGE_WEBHOOK_RETRY_SECONDS": "[0.5, 0.5]"}
    with LiveService(tmp_path_factory.mktemp("tell") / "instance", env=env) as service:
        yield service, service.user_with_key("tell@example.com", credits=50)


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(1)
    pixels = np.zeros((48, 64, 3), np.uint8) + np.array([220, 220, 220], np.uint8)
    pixels[12:36, 20:44] = rng.integers(20, 90, (24, 24, 3))
    path = tmp_path / "photo.jpg"
    Image.fromarray(pixels).save(path, format="JPEG", quality=95)
    return path


def _submit(service, key, photo, operation="remove-background", headers=None, **fields):
    with open(photo, "rb") as image:
        return requests.post(f"{service.base}/api/v1/{operation}", files={"image": image}, data=fields,
                             headers={"Authorization": f"Bearer {key}", **(headers or {})}, timeout=90)


def _delivery(service, key, job_id, until, timeout=30.0) -> dict:
    auth = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + timeout
    while True:
        found = requests.get(f"{service.base}/api/v1/webhooks/deliveries", params={"job_id": job_id},
                             headers=auth, timeout=10).json()["deliveries"]
        if found and until(found[0]) or time.monotonic() > deadline:
            return requests.get(f"{service.base}/api/v1/webhooks/deliveries/{found[0]['delivery_id']}",
                                headers=auth, timeout=10).json() if found else {}
        time.sleep(0.2)


def test_prefer_wait_returns_the_finished_job_in_one_request(live, photo):
    service, key = live
    started = time.monotonic()
    response = _submit(service, key, photo, headers={"Prefer": "wait=30"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "done" and time.monotonic() - started < 30
    assert response.headers["Preference-Applied"] == "wait=30"


def test_the_seeds_curl_flow_typed_straight_through_yields_a_png(live, photo, tmp_path):
    service, key = live
    auth = f"Authorization: Bearer {key}"
    submitted = subprocess.run(["curl", "-s", "-X", "POST", f"{service.base}/api/v1/remove-background", "-H", auth,
                                "-F", f"image=@{photo}"], capture_output=True, text=True, timeout=60, check=True)
    job_id = json.loads(submitted.stdout)["job_id"]
    subprocess.run(["curl", "-s", f"{service.base}/api/v1/jobs/{job_id}", "-H", auth], capture_output=True,
                   timeout=60, check=True)
    subprocess.run(["curl", "-s", "-o", str(tmp_path / "result.png"), f"{service.base}/api/v1/jobs/{job_id}/download",
                    "-H", auth], timeout=90, check=True)
    assert Image.open(tmp_path / "result.png").format == "PNG"


def test_the_event_stream_ends_with_the_final_job(live, photo):
    service, key = live
    job_id = _submit(service, key, photo, operation="upscale", scale="4").json()["job_id"]
    events = []
    with requests.get(f"{service.base}/api/v1/jobs/{job_id}/events", headers={"Authorization": f"Bearer {key}"},
                      stream=True, timeout=90) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                events.append([line[7:], None])
            elif line.startswith("data: "):
                events[-1][1] = json.loads(line[6:])
    assert events[-1][0] == "done" and events[-1][1]["status"] == "done" and events[-1][1]["result_url"]


def test_a_loopback_receiver_gets_a_delivery_that_verifies_with_the_accounts_secret(live, photo):
    service, key = live
    with Receiver() as receiver:
        job_id = _submit(service, key, photo, webhook_url=receiver.url + "/hook").json()["job_id"]
        (got,) = receiver.wait_for(1, timeout=60)
    secret = requests.get(f"{service.base}/api/v1/webhooks/secret", headers={"Authorization": f"Bearer {key}"},
                          timeout=10).json()["key"]
    assert verify_standard_webhook(secret, got.headers, got.body)
    assert json.loads(got.body)["data"]["job_id"] == job_id


def test_a_failing_receiver_is_retried_and_the_attempt_log_shows_it(live, photo):
    service, key = live
    with Receiver(answers=[(500, {}, b"down"), (500, {}, b"down"), (204, {}, b"")]) as receiver:
        job_id = _submit(service, key, photo, webhook_url=receiver.url).json()["job_id"]
        receiver.wait_for(3, timeout=60)
        shown = _delivery(service, key, job_id, lambda d: d["status"] == "delivered")
    assert shown["status"] == "delivered"
    assert [(a["number"], a["status_code"]) for a in shown["attempt_log"]] == [(1, 500), (2, 500), (3, 204)]


def test_an_internal_address_is_refused(live, photo):
    service, key = live
    response = _submit(service, key, photo, webhook_url="http://169.254.169.254/latest/meta-data/")
    assert response.status_code == 422 and response.json()["error"]["code"] == "url_refused"


def test_remove_background_options_and_a_chained_upscale(live, photo):
    service, key = live
    auth = {"Authorization": f"Bearer {key}"}
    opaque = _submit(service, key, photo, headers={"Prefer": "wait=30"}, bg_color="white").json()
    mask = _submit(service, key, photo, headers={"Prefer": "wait=30"}, channels="alpha").json()
    chained = requests.post(f"{service.base}/api/v1/upscale", data={"image_job_id": mask["job_id"],
                                                                    "output_format": "jpeg"},
                            headers={**auth, "Prefer": "wait=30"}, timeout=90).json()
    images = {name: Image.open(io.BytesIO(requests.get(job["result_url"], headers=auth, timeout=30).content))
              for name, job in (("opaque", opaque), ("mask", mask), ("chained", chained))}
    assert images["opaque"].mode == "RGB" and images["mask"].mode == "L"
    assert images["chained"].format == "JPEG" and images["chained"].size == (128, 96)
    stranger = service.user_with_key("stranger@example.com", credits=5)
    refused = requests.post(f"{service.base}/api/v1/upscale", data={"image_job_id": mask["job_id"]},
                            headers={"Authorization": f"Bearer {stranger}"}, timeout=30)
    assert refused.status_code == 404
