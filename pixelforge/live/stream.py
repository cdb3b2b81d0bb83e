"""GET /api/v1/jobs/<id>/events kept open: Flask answers with the job's current state as one event (and says
whether the job is still active); here the stream stays open and each later lifecycle event is added — processing
and progress straight from the Redis message, the final state as Flask's JSON of the job — until that ends it."""
from __future__ import annotations

import asyncio
import json

from pixelforge.live import calls
from pixelforge.models import JobStatus

FOLLOW = b"x-pixelforge-follow"
KEEPALIVE_SECONDS = 15.0


async def stream_events(live, scope, receive, send, job_id: str) -> None:
    first = await calls.capture(live.app, scope, receive)
    if first.status != 200 or first.header(FOLLOW) is None:
        return await calls.replay(send, first, first.with_headers(drop=(FOLLOW,)))
    hub = live.hub()
    async with hub.watch(job_id) as events:
        headers = first.with_headers(drop=(FOLLOW, b"content-length"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await _body(send, first.body)
        gone = calls.watch_disconnect(receive)
        try:
            # Whatever happened between Flask's answer and the watch starting is caught by asking once more.
            last = await _state(live, scope, job_id, send, _event_name(first.body))
            while last not in JobStatus.FINAL and not gone.is_set():
                last = await _next(live, scope, job_id, send, events, gone, last)
        finally:
            calls.stop_watching(gone)
    if not gone.is_set():
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _next(live, scope, job_id: str, send, events: asyncio.Queue, gone, last: str) -> str:
    event = await calls.unless_gone(_get(events), gone)
    if gone.is_set():
        return last
    if event is None:  # quiet for a while: keep proxies from closing the stream, and look at the final mark
        await _body(send, b": keep-alive\n\n")
        if await live.hub().final_status(job_id):
            return await _state(live, scope, job_id, send, last)
        return last
    if event.get("event") in ("processing", "progress"):  # said as it happened, from the message alone
        data = {"job_id": job_id, "status": JobStatus.PROCESSING, "progress": event.get("progress") or 0.0}
        await _body(send, f"event: {event['event']}\ndata: {json.dumps(data)}\n\n".encode())
        return JobStatus.PROCESSING
    return await _state(live, scope, job_id, send, last)


async def _get(events: asyncio.Queue):
    try:
        return await asyncio.wait_for(events.get(), KEEPALIVE_SECONDS)
    except asyncio.TimeoutError:
        return None


async def _state(live, scope, job_id: str, send, last: str) -> str:
    """Ask Flask for the job's event now; send it when the state changed. Returns the state."""
    answer = await calls.ask(live.app, scope, live.token, f"/api/v1/jobs/{job_id}/events")
    if answer.status != 200:
        return JobStatus.FAILED if answer.status == 404 else last  # the job is gone: end the stream
    name = _event_name(answer.body)
    if name != last or name in JobStatus.FINAL:
        await _body(send, answer.body.split(b"\n", 1)[1] if answer.body.startswith(b"retry:") else answer.body)
    return name


def _event_name(body: bytes) -> str:
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("event: "):
            return line[len("event: "):].strip()
    return ""


async def _body(send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})
