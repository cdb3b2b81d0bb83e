"""401 → 403 → 413 → 429: who gets in, in the contract's order."""
import pytest

from conftest import ApiCaller, image_bytes


def test_missing_key_is_401(client):
    response = client.get("/api/v1/account")
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == "authentication_required"
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert "Bearer" in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("header", [
    "Bearer pfk_notarealkeyatallnotarealkeyatallnotarealkey1",
    "Bearer pfk_short",
    "Bearer something-else",
    "Basic dXNlcjpwYXNz",
])
def test_bad_key_is_401(client, header, api):
    response = client.get("/api/v1/account", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] in ("invalid_api_key", "authentication_required")


def test_tampered_key_with_real_prefix_is_401(client, api):
    tampered = api.key[:-1] + ("A" if api.key[-1] != "A" else "B")
    response = client.get("/api/v1/account", headers={"Authorization": f"Bearer {tampered}"})
    assert response.status_code == 401


def test_revoked_key_fails_on_next_request(api):
    from pixelforge.keys import prefix_of, revoke_key

    assert api.get("/account").status_code == 200
    revoke_key(prefix_of(api.key))
    response = api.get("/account")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("plan", ["free", "starter"])
def test_plan_without_api_access_is_403(client, make_user, make_key, plan):
    user = make_user(plan=plan)
    caller = ApiCaller(client, make_key(user), user.id)
    response = caller.submit("enhance", image_bytes())
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "plan_without_api_access"


def test_session_cookie_does_not_authenticate_the_api(client, make_user):
    from pixelforge.auth import session_id

    user = make_user()
    with client.session_transaction() as session:
        session["_user_id"] = session_id(user)
    assert client.get("/api/v1/account").status_code == 401


def test_api_sets_no_cookies(api):
    response = api.get("/account")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_database_holds_no_usable_key(app, api):
    from pixelforge.extensions import db
    from pixelforge.models import ApiKey

    stored = db.session.scalars(db.select(ApiKey)).one()
    assert api.key not in (stored.key_hash, stored.prefix)
    assert api.key.startswith(stored.prefix) and len(stored.prefix) < len(api.key) // 3
    assert len(stored.key_hash) == 64


def test_upload_over_limit_is_413_before_reading(app, api):
    app.config["MAX_UPLOAD_BYTES"] = app.config["MAX_CONTENT_LENGTH"] = 1000
    response = api.submit("enhance", image_bytes(64, 64))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "upload_too_large"


def test_auth_is_checked_before_size(app, client):
    app.config["MAX_UPLOAD_BYTES"] = app.config["MAX_CONTENT_LENGTH"] = 10
    response = client.post("/api/v1/enhance", data={"image": (__import__("io").BytesIO(b"x" * 100), "a.png")})
    assert response.status_code == 401


def test_submissions_past_the_plan_rate_get_429(app, api, png):
    app.config["PLAN_LIMITS"] = {"pro": {"rpm": 3}}
    statuses = [api.submit("enhance", png).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    response = api.submit("enhance", png)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.get_json()["error"]["code"] == "rate_limited"


def test_reads_have_their_own_larger_budget(app, api, png):
    app.config["PLAN_LIMITS"] = {"pro": {"rpm": 1}}
    assert api.submit("enhance", png).status_code == 202
    assert api.submit("enhance", png).status_code == 429
    reads = [api.get("/account").status_code for _ in range(10)]
    assert reads == [200] * 10
    assert api.get("/account").status_code == 429


def test_limiter_storage_down_is_not_a_500(tmp_path, redis_server):
    from pixelforge import create_app
    from pixelforge.accounts import create_user
    from pixelforge.extensions import db
    from pixelforge.keys import create_key

    app = create_app({"TESTING": True, "INSTANCE_DIR": str(tmp_path / "instance"), "REDIS_URL": redis_server.url,
                      "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9", "PLAYGROUND_ENABLED": False})
    with app.app_context():
        key = create_key(create_user("down@example.com", plan="pro", credits=1)).secret
        response = app.test_client().get("/api/v1/account", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
        db.session.remove()
