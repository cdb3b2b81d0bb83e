"""Reads reuse a verified API key (keycache) without ever outliving a revocation or a plan change made by
another process: a second app on the same database and Redis plays the CLI or another web process."""
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from pixelforge import create_app
from pixelforge.extensions import db


@contextmanager
def recorded_statements(needle: str = ""):
    """The SQL statements run inside the block that contain needle (all of them by default)."""
    seen = []

    def record(conn, cursor, statement, *args):
        if needle in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def key_queries(app):
    """How many SQL statements have read the api_keys table so far."""
    with recorded_statements("FROM api_keys") as seen:
        yield seen


@pytest.fixture
def statements(app):
    """Every SQL statement run so far."""
    with recorded_statements() as seen:
        yield seen


@pytest.fixture
def other_process(app):
    """Run a function in another app (its own cache) on this test's instance, database and Redis."""
    config = {k: app.config[k] for k in ("INSTANCE_DIR", "REDIS_URL", "SQLALCHEMY_DATABASE_URI", "TESTING")}
    other = create_app({**config, "PLAYGROUND_ENABLED": False})

    def run(fn, *args):
        with other.app_context():
            try:
                from pixelforge.models import User

                return fn(*[db.session.get(User, a.id) if isinstance(a, User) else a for a in args])
            finally:
                db.session.remove()
    return run


def test_repeated_reads_look_the_key_up_once(api, key_queries):
    statuses = [api.get("/account").status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert len(key_queries) == 1


def test_writes_always_look_the_key_up(api, key_queries, png):
    for _ in range(2):
        assert api.submit("enhance", png).status_code == 202
    assert len(key_queries) == 2


def test_revocation_elsewhere_refuses_the_cached_key_at_once(api, other_process):
    from pixelforge.keys import prefix_of, revoke_key

    assert api.get("/account").status_code == 200  # cached now
    other_process(revoke_key, prefix_of(api.key))
    response = api.get("/account")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_api_key"


def test_plan_change_elsewhere_applies_to_the_next_read(api, other_process):
    from pixelforge.accounts import set_plan

    first = api.get("/account")
    assert first.get_json()["plan"] == "pro"
    other_process(set_plan, api.user, "free")
    response = api.get("/account")
    assert response.status_code == 403  # free has no API access
    assert response.get_json()["error"]["code"] == "plan_without_api_access"


def test_balance_is_never_served_from_the_cache(api, other_process):
    from pixelforge.credits import grant_credits

    before = api.get("/account").get_json()["credits"]
    other_process(grant_credits, api.user, 5)
    assert api.get("/account").get_json()["credits"] == before + 5


def test_a_lost_epoch_means_no_cached_answers(api, key_queries, redis_server):
    import redis

    from pixelforge.keycache import EPOCH_KEY

    assert api.get("/account").status_code == 200
    redis.Redis.from_url(redis_server.url).delete(EPOCH_KEY)  # e.g. Redis restarted without its data
    assert api.get("/account").status_code == 200
    assert api.get("/account").status_code == 200
    assert len(key_queries) == 2  # one lookup under the old epoch, one under the new


def test_cache_can_be_switched_off(app, api, key_queries):
    app.config["API_KEY_CACHE_SECONDS"] = 0
    for _ in range(3):
        assert api.get("/jobs").status_code == 200
    assert len(key_queries) == 3


def test_redis_down_falls_back_to_the_database(tmp_path, redis_server):
    from pixelforge.accounts import create_user
    from pixelforge.keys import create_key

    app = create_app({"TESTING": True, "INSTANCE_DIR": str(tmp_path / "instance"), "REDIS_URL": "redis://127.0.0.1:9",
                      "PLAYGROUND_ENABLED": False})
    with app.app_context():
        key = create_key(create_user("down@example.com", plan="pro", credits=1)).secret
        client = app.test_client()
        for _ in range(2):
            response = client.get("/api/v1/account", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 200
        db.session.remove()


def test_a_cached_status_poll_runs_one_statement_on_the_jobs_table(api, png, statements):
    job_id = api.submit("enhance", png).get_json()["job_id"]
    assert api.get(f"/jobs/{job_id}").status_code == 200  # verifies the key in SQL, caches it
    statements.clear()
    response = api.get(f"/jobs/{job_id}")
    assert response.status_code == 200 and response.get_json()["job_id"] == job_id
    assert len(statements) == 1 and "FROM jobs" in statements[0]


def test_a_cached_caller_is_not_an_orm_object(api, app):
    from flask_login import current_user

    from pixelforge.keycache import ApiCaller

    assert api.get("/account").status_code == 200  # cached now
    with app.test_request_context("/api/v1/jobs", headers=api.headers):
        assert isinstance(current_user._get_current_object(), ApiCaller)
        assert current_user.id == api.user_id and current_user.plan == "pro"


@pytest.mark.parametrize("path", ["/account", "/jobs"])
def test_a_user_deleted_in_sql_is_refused_by_cached_reads(api, other_process, path):
    """Finding 10: a user row deleted behind the app's back (no epoch bump) must not leave a usable cached key."""
    from pixelforge.models import ApiKey, CreditEntry, User

    assert api.get("/account").status_code == 200  # the key is cached now

    def delete_in_sql(user_id):
        for table in (CreditEntry, ApiKey):
            db.session.execute(db.delete(table).where(table.user_id == user_id))
        db.session.execute(db.delete(User).where(User.id == user_id))
        db.session.commit()

    other_process(delete_in_sql, api.user_id)
    response = api.get(path)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_api_key"
    assert api.get("/account").status_code == 401 and api.get("/jobs").status_code == 401
