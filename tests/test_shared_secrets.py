"""Hosts on one database share SECRET_KEY and KEY_HASH_SECRET, or the later one refuses to start and says what to
copy where. Reproduces issue 13's "keys made on web host A were 401 on web host B" (each instance folder had
generated secrets of its own)."""
from __future__ import annotations

import hashlib
import hmac

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select

from pixelforge import create_app
from pixelforge.extensions import db
from empty_databases import empty_database_url  # noqa: F401  (fixture)

SECRETS = {"SECRET_KEY": "one session secret for the whole cluster", "KEY_HASH_SECRET": "one key secret for it"}
PASSWORD = "password123"


@pytest.fixture(autouse=True)
def no_secrets_in_the_environment(monkeypatch):
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"PIXELFORGE_{name}", raising=False)


@pytest.fixture
def start_host(tmp_path, redis_server, empty_database_url):
    """Start a web host: its own instance folder, the shared database and Redis."""
    started = []
    if not empty_database_url.startswith("sqlite"):  # as `pixelforge db upgrade` would (SQLite upgrades itself)
        from pixelforge.migrations import upgrade

        engine = create_engine(empty_database_url)
        upgrade(engine)
        engine.dispose()

    def start(name: str):
        app = create_app({"TESTING": True, "INSTANCE_DIR": str(tmp_path / name), "PLAYGROUND_ENABLED": False,
                          "SQLALCHEMY_DATABASE_URI": empty_database_url, "REDIS_URL": redis_server.url,
                          "WTF_CSRF_ENABLED": False})
        started.append(app)
        return app

    yield start
    for app in started:
        with app.app_context():
            db.engine.dispose()


def make_user_and_key(app, email: str) -> str:
    from pixelforge.accounts import create_user
    from pixelforge.keys import create_key

    with app.app_context():
        secret = create_key(create_user(email, plan="pro", credits=5, password=PASSWORD)).secret
        db.session.remove()
    return secret


def account_status(app, key: str) -> int:
    return app.test_client().get("/api/v1/account", headers={"Authorization": f"Bearer {key}"}).status_code


def test_a_host_with_a_key_secret_of_its_own_refuses_to_start(start_host, tmp_path):
    host_a = start_host("web-a")
    key = make_user_and_key(host_a, "ada@example.com")
    with pytest.raises(RuntimeError, match="KEY_HASH_SECRET on this host differs") as refused:
        host_b = start_host("web-b")
        assert account_status(host_b, key) == 200, "a key made on web host A is 401 on web host B"
    message = str(refused.value)
    assert str(tmp_path / "web-a" / "key_hash_secret") in message  # copy from there
    assert str(tmp_path / "web-b" / "key_hash_secret") in message  # ... to here
    assert "set KEY_HASH_SECRET in this host's environment" in message


@pytest.mark.parametrize("source", ["environment", "prefixed environment", "instance/config.py"])
def test_hosts_given_the_same_secrets_accept_each_others_keys_and_sessions(start_host, tmp_path, monkeypatch,
                                                                          source):
    for name, value in SECRETS.items():
        if source == "environment":
            monkeypatch.setenv(name, value)
        elif source == "prefixed environment":
            monkeypatch.setenv(f"PIXELFORGE_{name}", value)
    if source == "instance/config.py":
        for host in ("web-a", "web-b"):
            (tmp_path / host).mkdir()
            (tmp_path / host / "config.py").write_text("".join(f"{k} = {v!r}\n" for k, v in SECRETS.items()))
    host_a, host_b = start_host("web-a"), start_host("web-b")

    key = make_user_and_key(host_a, "ada@example.com")
    assert account_status(host_b, key) == 200

    browser_a, browser_b = host_a.test_client(), host_b.test_client()
    assert browser_a.post("/login", data={"email": "ada@example.com", "password": PASSWORD}).status_code == 302
    browser_b.set_cookie("session", browser_a.get_cookie("session").value)
    assert browser_b.get("/dashboard").status_code == 200  # signed in on A, recognised on B


def test_a_host_with_a_session_secret_of_its_own_refuses_to_start(start_host, monkeypatch):
    monkeypatch.setenv("KEY_HASH_SECRET", SECRETS["KEY_HASH_SECRET"])
    start_host("web-a")
    with pytest.raises(RuntimeError, match="SECRET_KEY on this host differs"):
        start_host("web-b")


def test_the_database_keeps_fingerprints_never_the_secrets(start_host, monkeypatch, empty_database_url):
    from pixelforge.models import SecretFingerprint

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    start_host("web-a")
    engine = create_engine(empty_database_url)
    with engine.connect() as connection:
        rows = {row.name: row for row in connection.execute(select(SecretFingerprint.__table__))}
    engine.dispose()
    assert set(rows) == set(SECRETS)
    for name, secret in SECRETS.items():
        label = f"pixelforge shared secret fingerprint: {name}".encode()
        assert rows[name].fingerprint == hmac.new(secret.encode(), label, hashlib.sha256).hexdigest()
        assert all(secret not in str(value) for value in rows[name])


def test_commands_refuse_too_and_forgetting_the_fingerprints_lets_a_new_secret_in(start_host, tmp_path, monkeypatch,
                                                                                   empty_database_url):
    from pixelforge.cli import main

    start_host("web-a")
    monkeypatch.setenv("PIXELFORGE_INSTANCE", str(tmp_path / "web-b"))
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    runner = CliRunner()
    refused = runner.invoke(main, ["users", "create", "bob@example.com"])
    assert refused.exit_code == 1 and "differs from the one the database" in refused.output
    assert "Traceback" not in refused.output

    assert runner.invoke(main, ["db", "forget-secrets", "--yes"]).exit_code == 0
    assert runner.invoke(main, ["users", "create", "bob@example.com"]).exit_code == 0
    with pytest.raises(RuntimeError, match="differs from the one the database"):
        start_host("web-a")  # now host A is the odd one out
