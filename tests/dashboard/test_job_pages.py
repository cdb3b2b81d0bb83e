"""Issue 17's dashboard: a landing page, a ledger with its running balance, limits per account, Cancel on active
jobs, jobs that say what they found (no face), readable parameters, and pictures sized for the screen or converted
for download."""
from __future__ import annotations

import io

from PIL import Image

from pixelforge.extensions import db
from pixelforge.models import Job, JobStatus
from conftest import image_bytes
from test_pages import page, sign_in  # noqa: F401  (a fixture)


def test_the_landing_page_says_what_pixelforge_is_and_where_things_are(client):
    html = page(client, "/")  # for anyone: no redirect to sign in
    assert html.count("<h1") == 1 and "host yourself" in html
    for link in ('href="/playground/"', 'href="/dashboard"', 'href="/api/docs"', 'href="/api/v1/openapi.json"'):
        assert link in html, link


def test_the_ledger_shows_the_balance_after_each_entry(client, sign_in, api_for, png):
    from pixelforge import lifecycle

    user = sign_in(plan="pro", credits=5)
    api = api_for(user)
    first = api.submit("upscale", png, scale=4).get_json()["job_id"]  # 2 credits
    api.submit("enhance", png)
    lifecycle.fail(first, "test_failure", "failed on purpose")
    html = page(client, "/dashboard/credits")
    balances = [int(cell.split("<")[0]) for cell in html.split('data-testid="balance-after">')[1:]]
    assert balances == [4, 2, 3, 5]  # newest first: refund +2, charge −1, charge −2, grant +5
    assert "per account" in html and "per key" not in html


def test_active_jobs_can_be_cancelled_from_the_dashboard(client, sign_in, api_for, png):
    user = sign_in(credits=3)
    api = api_for(user)
    job_id = api.submit("enhance", png).get_json()["job_id"]
    other = api.submit("enhance", image_bytes(seed=3)).get_json()["job_id"]
    assert f'action="/dashboard/jobs/{job_id}/cancel"' in page(client, "/dashboard/jobs")
    detail = page(client, f"/dashboard/jobs/{job_id}")
    assert "Cancel job (refunds 1 credit)" in detail
    response = client.post(f"/dashboard/jobs/{job_id}/cancel")
    assert response.status_code == 303
    assert db.session.get(Job, job_id).status == JobStatus.CANCELLED
    assert api.get("/account").get_json()["credits"] == 2
    after = page(client, f"/dashboard/jobs/{job_id}")
    assert "refunded" in after and "Cancel job" not in after
    back = client.post(f"/dashboard/jobs/{other}/cancel", data={"back": "jobs"})
    assert back.headers["Location"].endswith("/dashboard/jobs")
    assert client.post(f"/dashboard/jobs/{job_id}/cancel").status_code == 303  # already final: said, not a 500


def test_a_job_that_found_no_face_says_so(client, sign_in, api_for, png, work_queue):
    user = sign_in()
    job_id = api_for(user).submit("restore-face", png).get_json()["job_id"]
    work_queue()
    assert db.session.get(Job, job_id).error_code == "no_face_found"
    assert "No face was found in this picture" in page(client, f"/dashboard/jobs/{job_id}")
    assert "no face found" in page(client, "/dashboard/jobs")


def test_a_jobs_parameters_read_as_words(client, sign_in, api_for, png, work_queue):
    user = sign_in()
    job_id = api_for(user).submit("upscale", png, scale=2).get_json()["job_id"]
    work_queue()
    html = page(client, f"/dashboard/jobs/{job_id}")
    assert "<dt>Scale</dt><dd>2x</dd>" in html and "<dt>Output size</dt>" in html and "scale=2" not in html


def test_a_cut_out_that_fits_the_screen_is_its_own_preview(client, sign_in, api_for, png, work_queue):
    from pixelforge.storage import get_storage
    from pixelforge.thumbnails import preview_key, thumbnail_key

    user = sign_in()
    job_id = api_for(user).submit("remove-background", png).get_json()["job_id"]
    work_queue()
    job = db.session.get(Job, job_id)
    result = get_storage().get(job.result_key)
    assert get_storage().get(preview_key(job_id, "result")) == result  # not encoded a second time
    assert Image.open(io.BytesIO(result)).mode == "RGBA"
    preview = client.get(f"/dashboard/jobs/{job_id}/preview/result")
    assert preview.status_code == 200 and preview.mimetype == "image/png" and preview.data == result
    assert get_storage().get(thumbnail_key(job_id, "result")) != result  # the thumbnail is still a small one


def test_previews_fit_the_screen_and_results_convert_for_download(client, sign_in, api_for, work_queue):
    user = sign_in()
    big = image_bytes(2000, 600)
    job_id = api_for(user).submit("upscale", big, scale=2).get_json()["job_id"]
    work_queue()
    from pixelforge.storage import get_storage
    from pixelforge.thumbnails import preview_key

    stored = get_storage().get(preview_key(job_id, "result"))  # made by the worker, where the result was decoded
    preview = client.get(f"/dashboard/jobs/{job_id}/preview/result")
    assert preview.data == stored
    assert preview.status_code == 200 and preview.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(preview.data)).size) == 1600
    assert Image.open(io.BytesIO(client.get(f"/dashboard/jobs/{job_id}/preview/input").data)).size == (1600, 480)
    for fmt, mimetype, pil_format in [("jpeg", "image/jpeg", "JPEG"), ("webp", "image/webp", "WEBP"),
                                      ("png", "image/png", "PNG")]:
        response = client.get(f"/dashboard/jobs/{job_id}/result?download=1&format={fmt}")
        assert response.status_code == 200 and response.mimetype == mimetype
        assert Image.open(io.BytesIO(response.data)).format == pil_format
        assert Image.open(io.BytesIO(response.data)).size == (4000, 1200)
    assert client.get(f"/dashboard/jobs/{job_id}/preview/mask").status_code == 404
