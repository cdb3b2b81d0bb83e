"""Dashboard pages: API keys, credits, job history, job images (owner only) and the playground's sign-in gate."""
from __future__ import annotations

import re

import pytest

from pixelforge.extensions import db
from pixelforge.keys import hash_key
from pixelforge.models import ApiKey, User
from conftest import image_bytes

PASSWORD = "password123"


@pytest.fixture
def sign_in(client, make_user):
    """Make a user with a password and sign the test client in as them."""

    def make(plan: str = "pro", credits: int = 10, email: str | None = None):
        user = make_user(plan=plan, credits=credits, email=email, password=PASSWORD)
        user_id, email = user.id, user.email
        response = client.post("/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 302
        return db.session.get(User, user_id)

    return make


def account_status(client, key: str) -> int:
    return client.get("/api/v1/account", headers={"Authorization": f"Bearer {key}"}).status_code


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def test_overview_shows_balance_and_plan(client, sign_in):
    sign_in(plan="starter", credits=7)
    html = page(client, "/dashboard")
    assert 'data-testid="balance">7<' in html and "starter" in html


def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(client, sign_in):
    user_id = sign_in().id
    created = client.post("/dashboard/keys", data={"name": "laptop"})
    assert created.status_code == 303 and created.headers["Location"].endswith("/dashboard/keys")
    response = client.get("/dashboard/keys")  # post/redirect/get: the page after the redirect shows it
    html = response.get_data(as_text=True)
    record = db.session.scalar(db.select(ApiKey).filter_by(user_id=user_id))
    secret = re.search(r'id="new-key-value"[^>]*>(pfk_\w+)</code>', html).group(1)
    assert secret.startswith("pfk_") and secret.startswith(record.prefix)
    assert record.key_hash == hash_key(secret) and secret not in (record.key_hash, record.prefix)
    assert response.headers["Cache-Control"] == "no-store"
    listing = page(client, "/dashboard/keys")
    assert secret not in listing and record.prefix in listing and "laptop" in listing
    assert account_status(client, secret) == 200  # the shown key works


def test_a_plan_without_api_access_is_told_why_it_has_no_keys(client, sign_in):
    user_id = sign_in(plan="free").id
    html = page(client, "/dashboard/keys")
    assert "no API access" in html and "pro and api" in html and 'action="/dashboard/keys"' not in html
    assert client.post("/dashboard/keys", data={"name": "sneaky"}).status_code == 403
    assert db.session.scalar(db.select(ApiKey).filter_by(user_id=user_id)) is None


def test_revoke_turns_a_key_off(client, sign_in, make_key):
    user = sign_in()
    secret = make_key(user)
    prefix = db.session.scalar(db.select(ApiKey.prefix).filter_by(user_id=user.id))
    response = client.post(f"/dashboard/keys/{prefix}/revoke")
    assert response.status_code == 302
    assert db.session.scalar(db.select(ApiKey.revoked_at).filter_by(prefix=prefix)) is not None
    assert "revoked" in page(client, "/dashboard/keys")
    assert account_status(client, secret) == 401


def test_nobody_revokes_another_users_key(client, sign_in, make_user, make_key):
    sign_in()
    other = make_user()
    make_key(other)
    prefix = db.session.scalar(db.select(ApiKey.prefix).filter_by(user_id=other.id))
    assert client.post(f"/dashboard/keys/{prefix}/revoke").status_code == 404
    assert db.session.scalar(db.select(ApiKey.revoked_at).filter_by(prefix=prefix)) is None


def test_credits_page_lists_grants_charges_and_refunds(client, sign_in, api_for, png):
    from pixelforge import lifecycle

    user = sign_in(plan="pro", credits=5)
    api = api_for(user)
    job_id = api.submit("enhance", png).get_json()["job_id"]
    lifecycle.fail(job_id, "test_failure", "failed on purpose")
    html = page(client, "/dashboard/credits")
    for text in ("grant", "+5", "charge", "-1", "refund", "+1", job_id[:8], "60<span", "/min"):
        assert text in html, text


def test_jobs_page_and_job_detail(client, sign_in, api_for, png, work_queue):
    user = sign_in()
    api = api_for(user)
    job_id = api.submit("enhance", png).get_json()["job_id"]
    work_queue()
    listing = page(client, "/dashboard/jobs")
    assert f"/dashboard/jobs/{job_id}/thumbnail" in listing and "enhance" in listing and "badge-done" in listing
    detail = page(client, f"/dashboard/jobs/{job_id}")
    assert f"/dashboard/jobs/{job_id}/input" in detail and f"/dashboard/jobs/{job_id}/result" in detail
    assert "Download result" in detail
    assert client.get(f"/dashboard/jobs/{job_id}/input").data == png
    result = client.get(f"/dashboard/jobs/{job_id}/result?download=1")
    assert result.status_code == 200 and result.mimetype == "image/png"
    assert "attachment" in result.headers["Content-Disposition"]
    thumbnail = client.get(f"/dashboard/jobs/{job_id}/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail.data.startswith(b"\x89PNG")


def test_jobs_page_pages_through_history(app, client, sign_in, api_for):
    user = sign_in(credits=30)
    api = api_for(user)
    ids = [api.submit("enhance", image_bytes(seed=n)).get_json()["job_id"] for n in range(22)]
    first = page(client, "/dashboard/jobs")
    assert ids[-1] in first and ids[0] not in first and "Older" in first
    cursor = first.split("/dashboard/jobs?cursor=")[1].split('"')[0]
    second = page(client, f"/dashboard/jobs?cursor={cursor}")
    assert ids[0] in second and ids[-1] not in second
    assert client.get("/dashboard/jobs?cursor=garbage").status_code == 302


def test_a_result_that_is_not_ready_is_404(client, sign_in, api_for, png):
    user = sign_in()
    job_id = api_for(user).submit("enhance", png).get_json()["job_id"]
    assert client.get(f"/dashboard/jobs/{job_id}/result").status_code == 404
    assert "refreshes itself" in page(client, f"/dashboard/jobs/{job_id}")


@pytest.mark.parametrize("suffix", ["", "/input", "/mask", "/result", "/thumbnail", "/anything"])
def test_another_users_job_is_404(client, sign_in, make_user, api_for, png, work_queue, suffix):
    from conftest import mask_bytes

    owner = make_user()
    job_id = api_for(owner).submit("erase-object", png, mask_bytes()).get_json()["job_id"]
    work_queue()
    sign_in()
    response = client.get(f"/dashboard/jobs/{job_id}{suffix}")
    assert response.status_code == 404
    assert b"\x89PNG" not in response.data


def test_job_images_need_a_session(client, make_user, api_for, png):
    job_id = api_for(make_user()).submit("enhance", png).get_json()["job_id"]
    assert client.get(f"/dashboard/jobs/{job_id}/input").status_code == 302


def test_pages_carry_a_strict_content_security_policy(client, sign_in):
    sign_in()
    response = client.get("/dashboard")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "http" not in response.get_data(as_text=True).split("<body")[0]  # no external stylesheet or script


def test_playground_sends_anonymous_visitors_to_login(app, make_user):
    from starlette.testclient import TestClient

    from pixelforge.asgi import create_asgi_app

    app.config["PLAYGROUND_ENABLED"] = True
    user = make_user(plan="free", password=PASSWORD)
    client = TestClient(create_asgi_app(app), base_url="http://pixelforge.test", follow_redirects=False)
    response = client.get("/playground/")
    assert response.status_code == 303
    assert response.headers["location"].endswith("/login?next=/playground/")
    assert client.get("/playground/config").status_code == 401  # Gradio's own check for non-page requests
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    page_response = client.get("/playground/")
    assert page_response.status_code == 200 and "gradio" in page_response.text.lower()
    assert client.get("/playground/config").status_code == 200


def test_a_password_change_signs_every_browser_out(app, make_user):
    import contextvars

    from starlette.testclient import TestClient

    from pixelforge.accounts import set_password
    from pixelforge.asgi import create_asgi_app

    app.config["PLAYGROUND_ENABLED"] = True
    user = make_user(plan="pro", password=PASSWORD)
    client = TestClient(create_asgi_app(app), base_url="http://pixelforge.test", follow_redirects=False)

    def browser(method: str, url: str, **kwargs) -> int:
        """One request outside this test's app context (TestClient would carry it, and Flask's g, into the app)."""
        return contextvars.Context().run(client.request, method, url, **kwargs).status_code

    browser("POST", "/login", data={"email": user.email, "password": PASSWORD})
    assert browser("GET", "/dashboard") == 200
    assert browser("GET", "/playground/") == 200
    set_password(user, "another password")  # e.g. `pixelforge users set-password` after a stolen laptop
    assert browser("GET", "/dashboard") == 302
    assert browser("GET", "/playground/") == 303
    assert browser("GET", "/playground/config") == 401
    browser("POST", "/login", data={"email": user.email, "password": "another password"})
    assert browser("GET", "/dashboard") == 200


def test_a_forged_session_without_the_fingerprint_opens_nothing(client, make_user):
    user = make_user(plan="pro", password=PASSWORD)
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)  # what sessions held before: the id alone
    assert client.get("/dashboard").status_code == 302


# --- the playground's runs: the API's path, without the browser ------------------------------------------

def test_playground_runs_charge_and_share_the_api_rate_limit(app, make_user, api_for, png, work_queue):
    from ui import runner

    from pixelforge.jobs import list_jobs

    app.config["PLAN_LIMITS"] = {"pro": {"rpm": 2}}
    user = make_user(plan="pro", credits=5)
    user_id = user.id
    assert api_for(user).submit("enhance", png).status_code == 202  # one through the API…
    view = runner.submit(app, user_id, "enhance", {}, png, None)  # …one through the playground…
    assert (view.status, view.credits, view.balance) == ("queued", 1, 3)
    with pytest.raises(runner.RunFailed) as refused:  # …and the plan's 2 per minute are spent
        runner.submit(app, user_id, "enhance", {}, png, None)
    assert refused.value.status == 429 and "2 runs per minute" in refused.value.message
    work_queue()
    final = list(runner.follow(app, user_id, view.id, "enhance"))[-1]
    assert final.status == "done" and final.result_type == "image/png" and final.balance == 3
    jobs, _ = list_jobs(db.session.get(User, user_id))
    assert view.id in [job.id for job in jobs]


@pytest.mark.parametrize("credits, operation, mask, status", [
    (0, "enhance", None, 402),
    (5, "erase-object", None, 422),
    (5, "upscale", None, 422),  # scale=3 below
])
def test_playground_errors_carry_the_apis_status(app, make_user, png, credits, operation, mask, status):
    from ui import runner

    user_id = make_user(plan="free", credits=credits).id
    form = {"scale": "3"} if operation == "upscale" else {}
    with pytest.raises(runner.RunFailed) as failed:
        runner.submit(app, user_id, operation, form, png, mask)
    assert failed.value.status == status and failed.value.message


def test_painted_strokes_become_a_white_on_black_mask():
    import io

    from PIL import Image

    from ui.runner import mask_from_strokes

    assert mask_from_strokes([], (32, 24)) is None  # nothing painted
    assert mask_from_strokes([{"size": 4, "points": "junk"}, "junk", {"points": [[1, "x"]]}], (32, 24)) is None
    strokes = [{"size": 4, "points": [[4, 6], [12, 6]]}, {"size": 2, "points": [[30, 20]]}]
    mask = Image.open(io.BytesIO(mask_from_strokes(strokes, (32, 24))))
    assert mask.size == (32, 24) and mask.mode == "L"
    assert mask.getpixel((8, 6)) == 255 and mask.getpixel((30, 20)) == 255 and mask.getpixel((20, 15)) == 0


def test_widget_values_become_the_apis_form_fields():
    from ui.widgets import form_fields

    from pixelforge.operations import OPERATIONS

    inpaint = OPERATIONS["inpaint"]
    assert form_fields(inpaint, ["a cat", 30.0, 7.5, 0.85, ""]) == {
        "prompt": "a cat", "steps": "30", "cfg_scale": "7.5", "strength": "0.85"}  # empty seed: random
    assert form_fields(inpaint, ["", 10, 7, 0.5, " 42 "])["seed"] == "42"


def test_an_empty_optional_number_says_what_it_means():
    """Output quality's empty box once said "random" (the seed's word): each says its own."""
    from ui.widgets import param_component

    from pixelforge.operations import OPERATIONS

    params = {p.name: p for p in OPERATIONS["inpaint"].params}
    assert param_component(params["seed"], "inpaint").placeholder == "random"
    assert param_component(params["output_quality"], "inpaint").placeholder == "default"


def test_the_bare_playground_path_gets_its_slash(client):
    response = client.get("/playground")
    assert response.status_code == 308 and response.headers["Location"].endswith("/playground/")
