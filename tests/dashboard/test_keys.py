"""Issue 17's key page: a reload makes no second key and shows the key no more; revoking asks first; the new key
comes with snippets that use it."""
from __future__ import annotations

import re

from pixelforge.extensions import db
from pixelforge.models import ApiKey
from test_pages import account_status, page, sign_in  # noqa: F401  (a fixture)


def keys_of(user_id: int) -> int:
    return db.session.scalar(db.select(db.func.count(ApiKey.id)).filter_by(user_id=user_id))


def test_reloading_after_creating_a_key_makes_no_second_key(client, sign_in):
    user_id = sign_in().id
    created = client.post("/dashboard/keys", data={"name": "laptop"})
    assert created.status_code == 303  # the browser follows with a GET: reloading repeats only that
    first = page(client, "/dashboard/keys")
    secret = re.search(r'data-testid="new-key">(pfk_\w+)<', first).group(1)
    again = page(client, "/dashboard/keys")
    assert keys_of(user_id) == 1 and secret not in again and 'data-testid="new-key"' not in again
    assert secret not in created.headers.get("Set-Cookie", "")  # the key never travels in a cookie


def test_the_new_key_comes_with_snippets_that_use_it(client, sign_in):
    sign_in()
    client.post("/dashboard/keys", data={"name": "ci"})
    html = page(client, "/dashboard/keys")
    secret = re.search(r'data-testid="new-key">(pfk_\w+)<', html).group(1)
    curl = re.search(r'data-testid="snippet-curl"[^>]*>(.*?)</pre>', html, re.S).group(1)
    python = re.search(r'data-testid="snippet-python"[^>]*>(.*?)</pre>', html, re.S).group(1)
    assert f"Bearer {secret}" in curl and "/api/v1/remove-background" in curl
    assert f"Bearer {secret}" in python and "requests.post" in python
    assert 'data-copy-target="snippet-curl"' in html and 'data-copy-target="snippet-python"' in html


def test_revoking_asks_first(client, sign_in, make_key):
    user = sign_in()
    secret = make_key(user, "laptop")
    prefix = db.session.scalar(db.select(ApiKey.prefix).filter_by(user_id=user.id))
    listing = page(client, "/dashboard/keys")
    assert f'href="/dashboard/keys/{prefix}/revoke"' in listing  # a link to a question, not a form that acts
    question = page(client, f"/dashboard/keys/{prefix}/revoke")
    assert "Revoke this key" in question and "laptop" in question and "Keep it" in question
    assert account_status(client, secret) == 200  # asking revoked nothing
    client.post(f"/dashboard/keys/{prefix}/revoke")
    assert account_status(client, secret) == 401
    assert client.get(f"/dashboard/keys/{prefix}/revoke").status_code == 302  # nothing left to ask


def test_nobody_is_asked_about_another_users_key(client, sign_in, make_user, make_key):
    sign_in()
    other = make_user()
    make_key(other)
    prefix = db.session.scalar(db.select(ApiKey.prefix).filter_by(user_id=other.id))
    assert client.get(f"/dashboard/keys/{prefix}/revoke").status_code == 404
