"""Idempotency keys, cancellation, retention, request ids and requeueing what Redis lost."""
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from conftest import image_bytes


def test_same_idempotency_key_and_request_replays_one_job(api):
    image = image_bytes()
    headers = {**api.headers, "Idempotency-Key": "order-42"}
    responses = [api.client.post("/api/v1/upscale", headers=headers, content_type="multipart/form-data",
                                 data={"scale": "2", "image": (__import__("io").BytesIO(image), f"n{i}.png")})
                 for i in range(3)]
    assert [r.status_code for r in responses] == [202, 202, 202]
    assert len({r.get_json()["job_id"] for r in responses}) == 1
    assert "Idempotent-Replayed" not in responses[0].headers
    assert responses[1].headers["Idempotent-Replayed"] == "true"
    assert api.user.credits == 9
    assert len(api.get("/jobs").get_json()["jobs"]) == 1


def _submit_with_key(api, key, image, **fields):
    import io

    data = {name: str(value) for name, value in fields.items()}
    data["image"] = (io.BytesIO(image), "photo.png")
    return api.client.post("/api/v1/upscale", headers={**api.headers, "Idempotency-Key": key}, data=data,
                           content_type="multipart/form-data")


@pytest.mark.parametrize("change", ["field", "file"])
def test_same_key_different_request_is_409(api, change):
    assert _submit_with_key(api, "k1", image_bytes(), scale=2).status_code == 202
    other = _submit_with_key(api, "k1", image_bytes(seed=1) if change == "file" else image_bytes(),
                             scale=4 if change == "field" else 2)
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_conflict"
    assert api.user.credits == 9


def test_keys_are_per_user(api, make_user, api_for):
    other = api_for(make_user())
    a = _submit_with_key(api, "shared", image_bytes()).get_json()["job_id"]
    b = _submit_with_key(other, "shared", image_bytes()).get_json()["job_id"]
    assert a != b


def test_failed_first_request_releases_the_key(make_user, api_for):
    caller = api_for(make_user(credits=0))
    assert _submit_with_key(caller, "retry-me", image_bytes()).status_code == 402
    from pixelforge.credits import grant_credits

    grant_credits(caller.user, 5)
    assert _submit_with_key(caller, "retry-me", image_bytes()).status_code == 202


def test_expired_key_can_be_reused(app, api):
    from pixelforge.extensions import db
    from pixelforge.models import IdempotencyRecord, utcnow

    first = _submit_with_key(api, "old", image_bytes()).get_json()["job_id"]
    record = db.session.scalar(db.select(IdempotencyRecord))
    record.created_at = utcnow() - timedelta(seconds=app.config["IDEMPOTENCY_WINDOW_SECONDS"] + 1)
    db.session.commit()
    second = _submit_with_key(api, "old", image_bytes(seed=3)).get_json()["job_id"]
    assert first != second


def test_parallel_idempotent_replays_make_one_job(api):
    image = image_bytes()
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: _submit_with_key(api, "burst", image), range(8)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.get_json()["job_id"] for r in responses}) == 1
    assert api.user.credits == 9


def test_cancel_a_queued_job_refunds_once(api, work_queue):
    job_id = api.submit("upscale", image_bytes(), scale=4).get_json()["job_id"]
    assert api.user.credits == 8
    response = api.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "cancelled" and body["refunded"] and body["error"]["code"] == "cancelled"
    assert api.user.credits == 10
    again = api.post(f"/jobs/{job_id}/cancel")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "job_already_final"
    work_queue()
    assert api.get(f"/jobs/{job_id}").get_json()["status"] == "cancelled"
    assert api.get(f"/jobs/{job_id}/download").status_code == 409
    assert api.user.credits == 10


def test_cancel_a_done_job_is_409(api, work_queue):
    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    work_queue()
    assert api.post(f"/jobs/{job_id}/cancel").status_code == 409
    assert api.user.credits == 9


def test_cancel_someone_elses_job_is_404(api, make_user, api_for):
    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    assert api_for(make_user()).post(f"/jobs/{job_id}/cancel").status_code == 404
    assert api.get(f"/jobs/{job_id}").get_json()["status"] == "queued"


def test_processing_job_cancelled_stops_and_keeps_no_result(app, api, work_queue, monkeypatch):
    """The engine's next progress report notices the cancel and stops; the result is not stored."""
    from pixelforge import lifecycle

    seen = {}

    def slow_engine(inp):
        lifecycle.cancel(seen["job_id"])
        import time

        time.sleep(0.6)
        inp.progress(0.5)
        seen["continued"] = True
        raise AssertionError("the engine should have been stopped")

    monkeypatch.setattr("workers.engines.enhance.classical_enhance", slow_engine)
    seen["job_id"] = api.submit("enhance", image_bytes()).get_json()["job_id"]
    work_queue()
    body = api.get(f"/jobs/{seen['job_id']}").get_json()
    assert body["status"] == "cancelled" and "continued" not in seen
    assert api.user.credits == 10


def test_results_expire_after_retention_with_410(app, api, work_queue):
    from pixelforge.extensions import db
    from pixelforge.models import Job, utcnow
    from pixelforge.storage import get_storage
    from pixelforge.upkeep import purge_expired_results

    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    work_queue()
    assert api.get(f"/jobs/{job_id}/download").status_code == 200
    job = db.session.get(Job, job_id)
    job.finished_at = utcnow() - timedelta(seconds=app.config["RESULT_RETENTION_SECONDS"] + 1)
    db.session.commit()
    response = api.get(f"/jobs/{job_id}/download")
    assert response.status_code == 410 and response.get_json()["error"]["code"] == "result_expired"
    assert purge_expired_results() == 1
    job = db.session.get(Job, job_id)
    assert job.expired_at is not None
    assert not get_storage().path(job.result_key).exists() and not get_storage().path(job.input_key).exists()
    assert api.get(f"/jobs/{job_id}").get_json()["result_url"] is None
    assert api.get(f"/jobs/{job_id}/download").status_code == 410


def test_plan_retention_overrides_the_default(app, api, work_queue):
    from pixelforge.extensions import db
    from pixelforge.models import Job, utcnow

    app.config["PLAN_LIMITS"] = {"pro": {"retention_seconds": 60}}
    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    work_queue()
    db.session.get(Job, job_id).finished_at = utcnow() - timedelta(seconds=61)
    db.session.commit()
    assert api.get(f"/jobs/{job_id}/download").status_code == 410


def test_request_id_is_echoed_or_made(client, api):
    response = api.client.get("/api/v1/account", headers={**api.headers, "X-Request-Id": "client-123"})
    assert response.headers["X-Request-Id"] == "client-123"
    unauthenticated = client.get("/api/v1/jobs", headers={"X-Request-Id": "abc.def"})
    assert unauthenticated.get_json()["error"]["request_id"] == "abc.def"
    made = client.get("/healthz")
    assert made.headers["X-Request-Id"].startswith("req_")
    hostile = client.get("/healthz", headers={"X-Request-Id": "bad id <script>"})
    assert hostile.headers["X-Request-Id"].startswith("req_")


def test_jobs_lost_by_redis_are_requeued_and_run(app, api, work_queue):
    from pixelforge.queue import get_redis, get_queue
    from pixelforge.upkeep import requeue_missing_jobs

    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    get_redis().flushall()  # what a Redis restart without persistence would do
    assert get_queue().count == 0
    assert requeue_missing_jobs() == 1
    assert requeue_missing_jobs() == 0
    work_queue()
    assert api.get(f"/jobs/{job_id}").get_json()["status"] == "done"
    assert api.user.credits == 9


def test_reads_work_while_redis_is_down(app, api, work_queue):
    from pixelforge.queue import connect_redis

    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    work_queue()
    app.extensions["pixelforge.redis"] = connect_redis("redis://127.0.0.1:9")
    assert api.get(f"/jobs/{job_id}").status_code == 200
    assert api.get(f"/jobs/{job_id}/download").status_code == 200
    assert api.submit("enhance", image_bytes()).status_code == 503
    assert api.user.credits == 9


def test_eviction_policy_is_checked(redis_server):
    from pixelforge.queue import connect_redis, eviction_policy_problem

    redis = connect_redis(redis_server.url)
    assert eviction_policy_problem(redis) is None
    redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        assert "noeviction" in eviction_policy_problem(redis)
    finally:
        redis.config_set("maxmemory-policy", "noeviction")


def test_request_id_is_in_the_logs(api, caplog):
    import logging

    from pixelforge.web import RequestIdFilter

    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="pixelforge.requests"):
        api.client.get("/api/v1/jobs/missing", headers={**api.headers, "X-Request-Id": "trace-77"})
    assert any(getattr(r, "request_id", None) == "trace-77" and "404" in r.getMessage() for r in caplog.records)
