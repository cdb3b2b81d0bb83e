"""The live layer in front of Flask (the ASGI app as served): `Prefer: wait` answers with the finished job in one
request, a download of an active job waits for its result, the event stream ends with the final job; and none of
them holds a request thread or a database connection while it waits. Every answer is checked against the
OpenAPI document."""
from __future__ import annotations

import asyncio
import io
import threading
import time

import httpx
import pytest
from PIL import Image
from werkzeug import Request, Response
from werkzeug.test import EnvironBuilder

from conftest import image_bytes
from contract import check_response
from pixelforge.extensions import db

BASE = "http://pixelforge.test"


class JobRunner(threading.Thread):
    """Runs queued jobs in this process, each after `delay` seconds (a worker, without RQ's signal handling)."""

    def __init__(self, app, delay: float = 0.2):
        super().__init__(daemon=True)
        self.app, self.delay, self.stopping, self.ran = app, delay, threading.Event(), []

    def run(self):
        from rq import Queue

        from pixelforge.queue import get_redis, job_queue_names
        from workers.tasks import run_job

        with self.app.app_context():
            redis = get_redis()
            while not self.stopping.is_set():
                for name in job_queue_names(redis):
                    queue = Queue(name, connection=redis)
                    for job_id in queue.get_job_ids():
                        time.sleep(self.delay)
                        queue.remove(job_id)
                        run_job(job_id)
                        self.ran.append(job_id)
                self.stopping.wait(0.05)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.join(10)


@pytest.fixture
def live_app(app):
    from pixelforge.asgi import create_asgi_app

    def make(**config):
        app.config.update(config)
        return create_asgi_app(app, with_playground=False)

    return make


def checked(app, response: httpx.Response) -> httpx.Response:
    """The answer, after checking it against the published document (as tests/contract.py does for Flask's)."""
    builder = EnvironBuilder(path=response.request.url.path, method=response.request.method,
                             query_string=response.request.url.query.decode(), base_url=BASE)
    flask_response = Response(response.content, status=response.status_code,
                              headers=list(response.headers.multi_items()))
    flask_response.request = Request(builder.get_environ())
    with app.app_context():
        check_response(app, flask_response)
    return response


def serve(main):
    """Run main() as the server would: without the test's own app context, which every request thread would
    otherwise inherit (a2wsgi copies the context) and share, session and all."""
    from flask.globals import _cv_app

    outer = _cv_app.get(None)
    if outer is not None:
        outer.pop()
    try:
        return asyncio.run(main())
    finally:
        if outer is not None:
            outer.push()
            db.session.expire_all()


async def _client(asgi) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url=BASE, timeout=60)


def _submit(client, api, operation="upscale", prefer=None, **fields):
    headers = {**api.headers, **({"Prefer": prefer} if prefer else {})}
    return client.post(f"/api/v1/{operation}", headers=headers, data=fields,
                       files={"image": ("p.png", image_bytes(), "image/png")})


def test_prefer_wait_answers_with_the_finished_job_in_one_request(app, api, live_app):
    asgi = live_app()

    async def main():
        async with await _client(asgi) as client:
            with JobRunner(app):
                started = time.monotonic()
                response = await _submit(client, api, prefer="wait=30")
                return response, time.monotonic() - started

    response, took = serve(main)
    checked(app, response)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "done" and job["result_url"].endswith("/download")
    assert response.headers["preference-applied"] == "wait=30"
    assert response.headers["x-credits-charged"] == "1" and response.headers["x-credits-remaining"] == "9"
    assert "x-ratelimit-remaining" in response.headers and took < 20


def test_prefer_wait_that_runs_out_is_the_usual_202(app, api, live_app):
    asgi = live_app()

    async def main():
        async with await _client(asgi) as client:
            started = time.monotonic()
            return await _submit(client, api, prefer="respond-async, wait=1"), time.monotonic() - started

    response, took = serve(main)
    checked(app, response)
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert response.headers["preference-applied"] == "wait=1" and 0.9 < took < 10


@pytest.mark.parametrize("case", ["no key", "bad parameter"])
def test_prefer_wait_keeps_the_apis_errors(app, api, live_app, case):
    asgi = live_app()

    async def main():
        async with await _client(asgi) as client:
            if case == "no key":
                return await client.post("/api/v1/upscale", headers={"Prefer": "wait"},
                                         files={"image": ("p.png", image_bytes(), "image/png")})
            return await _submit(client, api, prefer="wait", scale="3")

    response = checked(app, serve(main))
    assert response.status_code == (401 if case == "no key" else 422)
    assert set(response.json()["error"]) == {"code", "message", "param", "request_id"}


def test_a_download_straight_after_submitting_gets_the_image(app, api, live_app, caplog):
    """The seed's curl flow typed straight through: submit, then download (no polling in between); the log says
    the 409 it shows for the first try was held, not sent."""
    caplog.set_level("INFO", logger="pixelforge.requests")
    asgi = live_app()

    async def main():
        async with await _client(asgi) as client:
            with JobRunner(app, delay=0.5):
                job_id = (await _submit(client, api)).json()["job_id"]
                return await client.get(f"/api/v1/jobs/{job_id}/download", headers=api.headers)

    response = checked(app, serve(main))
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (64, 48)
    lines = [record.getMessage() for record in caplog.records if "/download" in record.getMessage()]
    assert lines[0].endswith("/download -> 409") and "the 409 above was held" in lines[1], lines


def test_a_download_that_waits_too_long_is_still_409(app, api, live_app):
    asgi = live_app(DOWNLOAD_WAIT_SECONDS=0.5)

    async def main():
        async with await _client(asgi) as client:
            job_id = (await _submit(client, api)).json()["job_id"]
            return await client.get(f"/api/v1/jobs/{job_id}/download", headers=api.headers)

    response = checked(app, serve(main))
    assert response.status_code == 409 and response.json()["error"]["code"] == "job_not_finished"


def parse_events(text: str) -> list[tuple[str, str]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], fields["data"]))
    return events


def test_the_event_stream_follows_the_job_and_ends_with_it(app, api, live_app):
    import json

    asgi = live_app()

    async def main():
        async with await _client(asgi) as client:
            job_id = (await _submit(client, api)).json()["job_id"]
            with JobRunner(app, delay=1.0):
                return job_id, await client.get(f"/api/v1/jobs/{job_id}/events", headers=api.headers)

    job_id, response = serve(main)
    checked(app, response)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert "x-pixelforge-follow" not in response.headers
    events = parse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "queued" and names[-1] == "done" and "processing" in names
    first, last = json.loads(events[0][1]), json.loads(events[-1][1])
    assert first["queue_position"] == 1 and first["job_id"] == job_id
    assert last["status"] == "done" and last["result_url"]


def test_the_event_stream_of_someone_elses_job_is_404(app, api, live_app, make_user, api_for):
    asgi = live_app()
    job_id = api.submit("upscale", image_bytes()).get_json()["job_id"]
    other = api_for(make_user())

    async def main():
        async with await _client(asgi) as client:
            return await client.get(f"/api/v1/jobs/{job_id}/events", headers=other.headers)

    response = checked(app, serve(main))
    assert response.status_code == 404 and response.json()["error"]["code"] == "job_not_found"


def test_waiters_hold_no_request_thread_and_no_database_connection(app, api, live_app):
    """Six clients wait on two request threads; the site keeps answering, and no connection is checked out."""
    asgi = live_app(WEB_THREADS=2)
    engine = db.engine

    async def main():
        async with await _client(asgi) as client:
            waiters = [asyncio.ensure_future(_submit(client, api, prefer="wait=20")) for _ in range(6)]
            await asyncio.sleep(1.5)
            assert not any(waiter.done() for waiter in waiters)
            started = time.monotonic()
            account = await client.get("/api/v1/account", headers=api.headers)
            answered_in = time.monotonic() - started
            checked_out = engine.pool.checkedout()
            with JobRunner(app, delay=0):
                answers = await asyncio.gather(*waiters)
            return account, answered_in, checked_out, answers

    account, answered_in, checked_out, answers = serve(main)
    assert account.status_code == 200 and answered_in < 2
    assert checked_out == 0
    assert [answer.status_code for answer in answers] == [200] * 6
    assert all(answer.json()["status"] == "done" for answer in answers)
