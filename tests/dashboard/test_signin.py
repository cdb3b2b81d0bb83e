"""Sign up, sign in, sign out: accounts, sessions, CSRF, the login rate limit and safe redirects."""
from __future__ import annotations

import re

import pytest

from pixelforge.accounts import find_user
from pixelforge.credits import ledger
from pixelforge.dashboard.auth import safe_next


def signup(client, email="new@example.com", password="correct horse"):
    return client.post("/signup", data={"email": email, "password": password})


def login(client, email, password, next_url=""):
    return client.post("/login", data={"email": email, "password": password, "next": next_url})


def test_signup_creates_a_free_user_with_opening_credits(app, client):
    response = signup(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard")
    user = find_user("new@example.com")
    assert user.plan == app.config["SIGNUP_PLAN"] == "free"
    assert user.credits == app.config["SIGNUP_CREDITS"]
    entries = ledger(user.id)
    assert [(e.reason, e.delta) for e in entries] == [("grant", app.config["SIGNUP_CREDITS"])]
    assert user.password_hash and "correct horse" not in user.password_hash
    assert client.get("/dashboard").status_code == 200  # signed in straight away


def test_signup_reads_its_settings(app, client):
    app.config.update(SIGNUP_CREDITS=3, SIGNUP_PLAN="starter")
    signup(client)
    user = find_user("new@example.com")
    assert (user.plan, user.credits) == ("starter", 3)


@pytest.mark.parametrize("fields, message", [
    ({"email": "not-an-email"}, "not a valid email"),
    ({"password": "short"}, "at least 8"),
    ({"email": ""}, "this field is required"),
])
def test_signup_refuses_bad_input(client, fields, message):
    data = {"email": "new@example.com", "password": "correct horse", **fields}
    response = client.post("/signup", data=data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True).lower().replace("field must be", "")
    assert find_user("new@example.com") is None


def test_signup_refuses_a_taken_email(client, make_user):
    make_user(email="taken@example.com")
    response = signup(client, email="Taken@Example.com")
    assert "already exists" in response.get_data(as_text=True)


def test_login_with_the_right_password_signs_in_and_follows_next(client, make_user):
    make_user(email="a@example.com", password="password123")
    response = login(client, "a@example.com", "password123", "/dashboard/keys")
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard/keys")
    assert client.get("/dashboard/keys").status_code == 200


def test_login_with_a_wrong_password_fails(client, make_user):
    make_user(email="a@example.com", password="password123")
    response = login(client, "a@example.com", "wrong-password")
    assert response.status_code == 200
    assert "Wrong email or password" in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302  # still signed out


def test_unknown_email_gives_the_same_answer(client):
    response = login(client, "nobody@example.com", "password123")
    assert "Wrong email or password" in response.get_data(as_text=True)


def test_pages_need_sign_in(client):
    response = client.get("/dashboard/jobs")
    assert response.status_code == 302
    assert "/login?next=%2Fdashboard%2Fjobs" in response.headers["Location"]


@pytest.mark.parametrize("target, expected", [
    ("/dashboard/keys", "/dashboard/keys"),
    ("/playground/", "/playground/"),
    ("", "/dashboard"),
    ("//evil.example/", "/dashboard"),
    ("https://evil.example/", "/dashboard"),
    ("/\\evil.example", "/dashboard"),
    ("javascript:alert(1)", "/dashboard"),
    ("dashboard", "/dashboard"),
])
def test_next_must_be_a_local_path(target, expected):
    assert safe_next(target) == expected


def test_login_never_redirects_off_site(client, make_user):
    make_user(email="a@example.com", password="password123")
    response = login(client, "a@example.com", "password123", "https://evil.example/")
    assert response.headers["Location"].endswith("/dashboard")


def test_logout_asks_on_get_and_signs_out_on_post(client, make_user):
    make_user(email="a@example.com", password="password123")
    login(client, "a@example.com", "password123")
    assert "Sign out" in client.get("/logout").get_data(as_text=True)
    assert client.get("/dashboard").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert client.get("/dashboard").status_code == 302


def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_csrf_is_enforced_on_forms(app, client, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user(email="a@example.com", password="password123")
    refused = login(client, "a@example.com", "password123")
    assert refused.status_code == 400 and "Form expired" in refused.get_data(as_text=True)
    token = _csrf_token(client.get("/login").get_data(as_text=True))
    accepted = client.post("/login", data={"email": "a@example.com", "password": "password123", "csrf_token": token})
    assert accepted.status_code == 302
    assert client.post("/logout").status_code == 400  # signing out needs the token too
    assert client.get("/dashboard").status_code == 200


def test_login_posts_are_rate_limited(client):
    statuses = [login(client, "a@example.com", "wrong-password").status_code for _ in range(11)]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429
    assert client.get("/login").status_code == 200  # reading the form is not counted
