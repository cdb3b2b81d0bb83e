"""BufferedBodies: a body reaches the app whole and on time, or the client gets 408/413 and the app never runs."""
from __future__ import annotations

import asyncio
import json

import pytest

from pixelforge.bodies import BodyLimits, BufferedBodies

LIMITS = BodyLimits(max_bytes=1000, idle_timeout=0.3, total_timeout=1.0)


class RecordingApp:
    """The Flask mount's stand-in: records the headers it was given and reads the whole body."""

    def __init__(self, read_body: bool = True):
        self.read_body, self.calls, self.body = read_body, [], b""

    async def __call__(self, scope, receive, send):
        self.calls.append(dict(scope["headers"]))
        while self.read_body:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def request(headers: dict[str, str], messages: list[tuple[float, dict]], app=None, limits=LIMITS):
    """Run one request through BufferedBodies: messages are (delay before, ASGI message); returns (app, sent)."""
    app = app or RecordingApp()
    scope = {"type": "http", "method": "POST", "path": "/api/v1/enhance", "client": ("127.0.0.1", 5),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    pending = list(messages)
    sent = []

    async def receive():
        if not pending:
            await asyncio.sleep(3600)
        delay, message = pending.pop(0)
        await asyncio.sleep(delay)
        return message

    async def send(message):
        sent.append(message)

    asyncio.run(BufferedBodies(app, limits)(scope, receive, send))
    return app, sent


def part(body: bytes, more: bool = True, delay: float = 0.0) -> tuple[float, dict]:
    return delay, {"type": "http.request", "body": body, "more_body": more}


def status_and_error(sent) -> tuple[int, dict]:
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    return sent[0]["status"], body["error"]


def test_a_body_in_parts_reaches_the_app_whole():
    app, sent = request({"content-length": "10"}, [part(b"hello"), part(b"world", more=False)])
    assert app.body == b"helloworld" and app.calls[0][b"content-length"] == b"10"
    assert sent[0]["status"] == 200


def test_a_chunked_body_is_given_its_length():
    app, _ = request({"transfer-encoding": "chunked"}, [part(b"a" * 300), part(b"b" * 200, more=False)])
    assert app.body == b"a" * 300 + b"b" * 200
    assert app.calls[0][b"content-length"] == b"500" and b"transfer-encoding" not in app.calls[0]


def test_a_large_body_is_spooled_and_replayed_intact():
    limits = BodyLimits(max_bytes=5_000_000, idle_timeout=1, total_timeout=5)
    data = bytes(range(256)) * 12_000  # 3 MB: past the in-memory part of the spool
    app, _ = request({"content-length": str(len(data))},
                     [part(data[i:i + 65536], more=i + 65536 < len(data)) for i in range(0, len(data), 65536)],
                     limits=limits)
    assert app.body == data


def test_a_stalled_body_gets_408_and_the_app_never_runs():
    app, sent = request({"content-length": "70", "x-request-id": "mine-1"}, [part(b"a"), part(b"b", delay=1.0)])
    status, error = status_and_error(sent)
    assert (status, error["code"], error["request_id"]) == (408, "request_timeout", "mine-1")
    assert (b"connection", b"close") in sent[0]["headers"]
    assert app.calls == []


def test_a_steady_trickle_past_the_deadline_gets_408():
    app, sent = request({"content-length": "70"}, [part(b"a", delay=0.2) for _ in range(20)])
    assert status_and_error(sent)[0] == 408 and app.calls == []


def test_a_chunked_body_past_the_limit_gets_413():
    app, sent = request({"transfer-encoding": "chunked"}, [part(b"a" * 600), part(b"b" * 600, more=False)])
    status, error = status_and_error(sent)
    assert (status, error["code"]) == (413, "upload_too_large") and app.calls == []


@pytest.mark.parametrize("headers", [{"content-length": "5000"}, {}, {"content-length": "0"}],
                         ids=["declared over the limit", "no body", "empty body"])
def test_what_has_no_body_to_wait_for_goes_straight_to_the_app(headers):
    """An oversized declaration is refused by Flask (401 → 403 → 413) without a byte read, here or there."""
    app, sent = request(headers, [part(b"never read", delay=5)], app=RecordingApp(read_body=False))
    assert len(app.calls) == 1 and sent[0]["status"] == 200


def test_a_client_that_disconnects_mid_body_gets_nothing():
    app, sent = request({"content-length": "70"}, [part(b"a"), (0.0, {"type": "http.disconnect"})])
    assert app.calls == [] and sent == []
