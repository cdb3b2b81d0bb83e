"""Fixtures: a real Redis for the session, a fresh app and database per test, users, keys and images."""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from PIL import Image

from pixelforge import create_app
from pixelforge.extensions import db
from pixelforge.redis_server import EmbeddedRedis
from contract import check_response
from empty_databases import drop_every_table

TEST_DATABASE_URL = os.environ.get("PIXELFORGE_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """A database at the migrations' head, made once: a SQLite file each test copies, or the PostgreSQL
    database emptied of every table and upgraded."""
    from sqlalchemy import create_engine

    from pixelforge.migrations import upgrade

    url = TEST_DATABASE_URL or f"sqlite:///{tmp_path_factory.mktemp('database') / 'pixelforge.db'}"
    engine = create_engine(url)
    if TEST_DATABASE_URL:
        drop_every_table(engine)
    upgrade(engine)
    engine.dispose()
    return url


def empty_shared_database(url: str) -> None:
    """Start a test on the shared PostgreSQL database from empty tables at head (a test may have left it
    anywhere: test_migrations builds old schemas in it)."""
    from sqlalchemy import create_engine, text

    from pixelforge.migrations import read_state, upgrade

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            at_head = read_state(connection).at_head
        if not at_head:
            drop_every_table(engine)
            upgrade(engine)
        names = ", ".join(table.name for table in db.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def app(tmp_path, redis_server, migrated_database):
    config = {
        "TESTING": True,
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "REDIS_URL": redis_server.url,
        "REQUIRE_LIVE_WORKER": False,
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": "pixelforge.test",
        "PLAYGROUND_ENABLED": False,
    }
    if TEST_DATABASE_URL:  # one shared server database
        config["SQLALCHEMY_DATABASE_URI"] = TEST_DATABASE_URL
        empty_shared_database(TEST_DATABASE_URL)
    else:  # a copy of the migrated template: each test starts at head without running the migrations
        (tmp_path / "instance").mkdir(exist_ok=True)
        shutil.copyfile(migrated_database.removeprefix("sqlite:///"), tmp_path / "instance" / "pixelforge.db")
    redis = __import__("redis").Redis.from_url(redis_server.url)
    redis.flushall()
    app = create_app(config)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (and so its own `g` and database session), as in production.

    The `app` fixture keeps an app context pushed for the test body; Flask would otherwise reuse it for
    every request, caching the logged-in user in `g` across requests.
    """

    def open(self, *args, **kwargs):
        outer = _cv_app.get(None)
        if outer is not None:
            outer.pop()
        try:
            response = super().open(*args, **kwargs)
            check_response(self.application, response)
            return response
        finally:
            if outer is not None:
                outer.push()
                db.session.expire_all()


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- factories -------------------------------------------------------------------------------------------

@pytest.fixture
def make_user(app):
    from pixelforge.accounts import create_user

    counter = iter(range(10_000))

    def make(plan: str = "pro", credits: int = 10, email: str | None = None, password: str | None = None):
        return create_user(email or f"user{next(counter)}@example.com", plan=plan, credits=credits,
                           password=password)

    return make


@pytest.fixture
def make_key(app):
    from pixelforge.keys import create_key

    def make(user, name: str = "test") -> str:
        return create_key(user, name).secret

    return make


class ApiCaller:
    """A test client that speaks the API with one key."""

    def __init__(self, client, key: str, user_id: int):
        self.client, self.key, self.user_id = client, key, user_id

    @property
    def user(self):
        """The caller's user, loaded fresh (each request closes the test's session)."""
        from pixelforge.models import User

        return db.session.get(User, self.user_id, populate_existing=True)

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.key}"}

    def submit(self, operation: str, image: bytes | None = None, mask: bytes | None = None, **fields):
        data = {name: str(value) for name, value in fields.items()}
        if image is not None:
            data["image"] = (io.BytesIO(image), "photo.png")
        if mask is not None:
            data["mask"] = (io.BytesIO(mask), "mask.png")
        return self.client.post(f"/api/v1/{operation}", data=data, headers=self.headers,
                                content_type="multipart/form-data")

    def get(self, path: str, **kwargs):
        return self.client.get(f"/api/v1{path}", headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs):
        return self.client.post(f"/api/v1{path}", headers=self.headers, **kwargs)


@pytest.fixture
def api(client, make_user, make_key):
    """An API caller for a fresh pro user with 10 credits; .user is that user."""
    user = make_user()
    return ApiCaller(client, make_key(user), user.id)


@pytest.fixture
def api_for(client, make_key):
    def make(user):
        return ApiCaller(client, make_key(user), user.id)

    return make


@pytest.fixture
def work_queue(app):
    """Run every queued job now, in this process, through a real RQ SimpleWorker on the real Redis."""

    def work() -> None:
        from rq import Queue, SimpleWorker

        from pixelforge.queue import get_redis

        redis = get_redis()
        from pixelforge.queue import job_queue_names

        worker = SimpleWorker([Queue(name, connection=redis) for name in job_queue_names(redis)],
                              connection=redis)
        worker.work(burst=True, logging_level="WARNING")
        db.session.remove()

    return work


@pytest.fixture
def live_worker(app):
    """Publish a live worker with the given models, as a worker's heartbeat does (workers.capabilities)."""

    def publish(*models: str, device: str = "cpu", name: str = "test-worker") -> None:
        from pixelforge.queue import get_redis, model_queue_name, publish_worker_info, record_worker_heartbeat

        redis, base = get_redis(), app.config["QUEUE_NAME"]
        record_worker_heartbeat(redis, name)
        publish_worker_info(redis, name, {"host": "test", "device": device, "gpu": None,
                                          "models": {model: None for model in models},
                                          "queues": [*(model_queue_name(base, m) for m in models), base]})

    return publish


@pytest.fixture
def fresh_model_cache():
    """The worker's model cache empty before and after the test: it starts with nothing loaded, loads its own
    models and leaves no network in memory for the next test (use with pytest.mark.usefixtures)."""
    from workers import inference

    inference.clear_model_cache()
    yield
    inference.clear_model_cache()


# --- images ---------------------------------------------------------------------------------------------

def image_bytes(width: int = 32, height: int = 24, mode: str = "RGB", fmt: str = "PNG", seed: int = 0,
                **save_args) -> bytes:
    """A small noisy test image encoded as fmt."""
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    image = Image.fromarray(array.squeeze(-1) if channels == 1 else array, mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def mask_bytes(width: int = 32, height: int = 24, box=(8, 6, 20, 16), mode: str = "L") -> bytes:
    """A black mask with a white rectangle (the area to change)."""
    array = np.zeros((height, width), dtype=np.uint8)
    left, top, right, bottom = box
    array[top:bottom, left:right] = 255
    image = Image.fromarray(array, "L").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def png():
    return image_bytes()


REPO_ROOT = Path(__file__).resolve().parents[1]
