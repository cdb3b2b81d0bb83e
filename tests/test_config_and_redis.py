"""Configuration layering and the embedded Redis."""
from pathlib import Path

import pytest

from pixelforge import create_app
from pixelforge.redis_server import MAX_SOCKET_PATH, EmbeddedRedis, socket_path_for


def test_environment_overrides_defaults_and_instance_config(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text("SIGNUP_CREDITS = 3\nMAX_PROMPT_CHARS = 50\n")
    monkeypatch.setenv("PIXELFORGE_MAX_PROMPT_CHARS", "77")
    monkeypatch.setenv("PIXELFORGE_REQUIRE_LIVE_WORKER", "false")
    monkeypatch.setenv("PIXELFORGE_PLAN_LIMITS", '{"pro": {"rpm": 5}}')
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    app = create_app({"INSTANCE_DIR": str(instance), "PLAYGROUND_ENABLED": False})
    assert app.config["SIGNUP_CREDITS"] == 3
    assert app.config["MAX_PROMPT_CHARS"] == 77
    assert app.config["REQUIRE_LIVE_WORKER"] is False
    assert app.config["PLAN_LIMITS"] == {"pro": {"rpm": 5}}
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("other.db")


def test_secrets_are_generated_once_and_private(tmp_path):
    first = create_app({"INSTANCE_DIR": str(tmp_path / "i"), "PLAYGROUND_ENABLED": False})
    second = create_app({"INSTANCE_DIR": str(tmp_path / "i"), "PLAYGROUND_ENABLED": False})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert first.config["KEY_HASH_SECRET"] != first.config["SECRET_KEY"]
    assert (Path(first.instance_path) / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("url, expected", [
    ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
    ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
    ("sqlite:///x.db", "sqlite:///x.db"),
])
def test_database_urls_name_the_driver(url, expected):
    from pixelforge.config import _normalise_database_url

    assert _normalise_database_url(url) == expected


def test_long_instance_paths_get_a_short_socket(tmp_path):
    deep = tmp_path / ("d" * 120)
    path = socket_path_for(deep)
    assert len(str(path)) <= MAX_SOCKET_PATH and path.name.endswith(".sock")
    assert socket_path_for(tmp_path) == tmp_path / "redis.sock"


def test_embedded_redis_persists_and_never_evicts(tmp_path):
    from redis import Redis

    server = EmbeddedRedis(tmp_path / "r" / ("x" * 110)).start()
    try:
        client = Redis.from_url(server.url)
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("port")["port"] == "0"  # a unix socket only
        client.set("survives", "yes")
    finally:
        server.stop()
    again = EmbeddedRedis(tmp_path / "r" / ("x" * 110)).start()
    try:
        assert Redis.from_url(again.url).get("survives") == b"yes"
    finally:
        again.stop()
