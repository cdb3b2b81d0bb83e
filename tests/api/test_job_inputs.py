"""Inputs without an upload: `image_url` (fetched within size and time limits, checked like an upload) and
`image_job_id` (one of your finished results, chained into the next step; 404 for anyone else's). And the credit
headers every submission answers with."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from conftest import image_bytes
from receivers import Receiver


@pytest.fixture
def loopback_allowed(app):
    app.config["WEBHOOK_ALLOW_HOSTS"] = "127.0.0.1"


def _result(api, job_id) -> Image.Image:
    response = api.get(f"/jobs/{job_id}/download")
    assert response.status_code == 200, response.get_json()
    return Image.open(io.BytesIO(response.data))


def test_an_image_url_is_fetched_checked_and_run(api, work_queue, loopback_allowed):
    with Receiver(answers=[(200, {"content-type": "text/plain"}, image_bytes(40, 30))]) as server:
        response = api.submit("upscale", image_url=server.url + "/photo.png?size=large")
        assert response.status_code == 202, response.get_json()
        assert server.requests[0].path == "/photo.png?size=large"
    work_queue()
    job = api.get(f"/jobs/{response.get_json()['job_id']}").get_json()
    assert job["status"] == "done" and job["input"] == {"width": 40, "height": 30}
    assert _result(api, job["job_id"]).size == (80, 60)


@pytest.mark.parametrize("answer, code", [
    ((200, {}, b"<html>not a picture</html>"), "unsupported_format"),
    ((404, {}, b"gone"), "fetch_failed"),
    ((200, {}, b""), "empty_file"),
])
def test_an_image_url_that_gives_no_image_is_422_and_free(api, loopback_allowed, answer, code):
    with Receiver(answers=[answer]) as server:
        response = api.submit("upscale", image_url=server.url + "/x")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["param"]) == (code, "image_url")
    assert api.user.credits == 10


def test_an_image_url_over_the_size_limit_is_422(app, api, loopback_allowed):
    app.config["MAX_UPLOAD_BYTES"] = 10_000
    with Receiver(answers=[(200, {}, image_bytes(200, 200))]) as server:
        response = api.submit("upscale", image_url=server.url)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "fetch_too_large"


def test_an_image_url_that_answers_too_slowly_is_422(app, api, loopback_allowed):
    app.config["IMAGE_URL_TIMEOUT_SECONDS"] = 0.5
    with Receiver(answers=[(200, {}, image_bytes())], delay=2) as server:
        response = api.submit("upscale", image_url=server.url)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "fetch_timeout"


def test_a_caller_who_cannot_pay_costs_no_fetch(api, loopback_allowed, make_user, api_for):
    broke = api_for(make_user(credits=0))
    with Receiver(answers=[(200, {}, image_bytes())]) as server:
        response = broke.submit("upscale", image_url=server.url)
        assert response.status_code == 402 and server.requests == []


def test_image_job_id_chains_an_upscale_onto_a_remove_background(api, work_queue):
    first = api.submit("remove-background", image_bytes(48, 36)).get_json()["job_id"]
    work_queue()
    second = api.submit("upscale", image_job_id=first, scale="2")
    assert second.status_code == 202, second.get_json()
    work_queue()
    job = api.get(f"/jobs/{second.get_json()['job_id']}").get_json()
    assert job["status"] == "done" and job["input"] == {"width": 48, "height": 36}
    result = _result(api, job["job_id"])
    assert result.size == (96, 72) and result.mode == "RGBA"  # the cut-out's alpha went through the chain


def test_someone_elses_job_id_is_404_and_free(api, work_queue, make_user, api_for):
    theirs = api_for(make_user())
    their_job = theirs.submit("upscale", image_bytes()).get_json()["job_id"]
    work_queue()
    for job_id in (their_job, "00000000-0000-0000-0000-000000000000"):
        response = api.submit("upscale", image_job_id=job_id)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "job_not_found"
    assert api.user.credits == 10


def test_an_unfinished_or_failed_job_is_no_input(api):
    queued = api.submit("upscale", image_bytes()).get_json()["job_id"]
    response = api.submit("enhance", image_job_id=queued)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "job_not_finished"
    api.post(f"/jobs/{queued}/cancel")
    response = api.submit("enhance", image_job_id=queued)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "job_has_no_result"


@pytest.mark.parametrize("fields, code", [
    ({"image_url": "http://127.0.0.1/x.png", "image_job_id": "abc"}, "image_source_conflict"),
    ({}, "missing_file"),
])
def test_one_image_source_exactly(api, loopback_allowed, fields, code):
    response = api.submit("upscale", **fields)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == code


def test_an_upload_and_an_image_url_together_are_refused(api, loopback_allowed):
    response = api.submit("upscale", image_bytes(), image_url="http://127.0.0.1/x.png")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "image_source_conflict"


def test_submissions_say_what_they_charged_and_what_is_left(api, make_user, api_for):
    response = api.submit("upscale", image_bytes(), scale="4")
    assert response.status_code == 202
    assert (response.headers["X-Credits-Charged"], response.headers["X-Credits-Remaining"]) == ("2", "8")
    refused = api.submit("upscale", image_bytes(), scale="3")
    assert (refused.headers["X-Credits-Charged"], refused.headers["X-Credits-Remaining"]) == ("0", "8")
    broke = api_for(make_user(credits=0)).submit("upscale", image_bytes())
    assert broke.status_code == 402 and broke.headers["X-Credits-Remaining"] == "0"
    job_id = response.get_json()["job_id"]
    cancelled = api.post(f"/jobs/{job_id}/cancel")
    assert (cancelled.headers["X-Credits-Charged"], cancelled.headers["X-Credits-Remaining"]) == ("0", "10")
    assert api.get("/account").headers["X-Credits-Remaining"] == "10"
