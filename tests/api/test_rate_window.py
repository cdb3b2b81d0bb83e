"""The per-plan limit is a moving minute: what counts is the last 60 seconds, not the clock's minute.

Time is moved by rewriting the scores (Redis microseconds) of the caller's logged requests, which is exactly
what the limiter reads."""
import time

import pytest
import redis as redis_lib


@pytest.fixture
def request_log(app, api, redis_server):
    """The caller's submission log in Redis, with a helper to age every entry by some seconds."""
    client = redis_lib.Redis.from_url(redis_server.url)
    key = f"pixelforge/submit/user:{api.user.id}"

    class Log:
        def size(self) -> int:
            return client.zcard(key)

        def age(self, seconds: float) -> None:
            for member, score in client.zrange(key, 0, -1, withscores=True):
                client.zadd(key, {member: score - seconds * 1_000_000})

    return Log()


def test_a_new_clock_minute_does_not_refill_the_budget(app, api, png, request_log):
    app.config["PLAN_LIMITS"] = {"pro": {"rpm": 2}}
    assert [api.submit("enhance", png).status_code for _ in range(2)] == [202, 202]
    request_log.age(30)  # both happened 30 s ago: a fixed window could have rolled over since
    refused = api.submit("enhance", png)
    assert refused.status_code == 429
    assert 28 <= int(refused.headers["Retry-After"]) <= 31
    assert abs(int(refused.headers["X-RateLimit-Reset"]) - (time.time() + 30)) <= 2


def test_one_slot_frees_when_the_oldest_request_leaves_the_window(app, api, png, request_log):
    app.config["PLAN_LIMITS"] = {"pro": {"rpm": 2}}
    assert api.submit("enhance", png).status_code == 202
    request_log.age(61)  # the first one is now out of the window
    assert api.submit("enhance", png).status_code == 202
    accepted = api.submit("enhance", png)
    assert accepted.status_code == 202
    assert accepted.headers["X-RateLimit-Remaining"] == "0"
    assert api.submit("enhance", png).status_code == 429


def test_refused_requests_do_not_use_up_the_budget(app, api, png, request_log):
    app.config["PLAN_LIMITS"] = {"pro": {"rpm": 2}}
    for _ in range(6):
        api.submit("enhance", png)
    assert request_log.size() == 2
    request_log.age(61)
    assert api.submit("enhance", png).status_code == 202  # no penalty for the refused retries


def test_reads_are_counted_in_their_own_window(app, api, png, request_log):
    app.config["PLAN_LIMITS"] = {"pro": {"rpm": 1}}
    app.config["READ_RATE_MULTIPLIER"] = 3
    assert api.submit("enhance", png).status_code == 202
    assert [api.get("/jobs").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert request_log.size() == 1


def test_without_redis_the_limit_still_holds_in_memory(tmp_path):
    from pixelforge import create_app
    from pixelforge.accounts import create_user
    from pixelforge.extensions import db
    from pixelforge.keys import create_key

    app = create_app({"TESTING": True, "INSTANCE_DIR": str(tmp_path / "instance"), "REDIS_URL": None,
                      "PLAYGROUND_ENABLED": False, "PLAN_LIMITS": {"pro": {"rpm": 1}}, "READ_RATE_MULTIPLIER": 2})
    with app.app_context():
        key = create_key(create_user("mem@example.com", plan="pro", credits=1)).secret
        db.session.remove()
    client = app.test_client()  # each request in its own app context, as when served
    statuses = [client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]
