"""The ASGI middleware in front of the Flask mount: `Prefer: wait` on submissions, the download's wait on an
active job, and the job event stream (stream.py). Anything else passes straight through."""
from __future__ import annotations

import asyncio
import logging
import re

from pixelforge.live import calls
from pixelforge.live.hub import JobEventHub
from pixelforge.models import JobStatus

log = logging.getLogger("pixelforge.requests")

MAX_WAIT_SECONDS = 60
SUBMISSION = re.compile(r"^/api/v1/([a-z-]+)$")
DOWNLOAD = re.compile(r"^/api/v1/jobs/([A-Za-z0-9-]{1,36})/download$")
EVENTS = re.compile(r"^/api/v1/jobs/([A-Za-z0-9-]{1,36})/events$")


def prefer_wait(headers) -> int | None:
    """Seconds asked for by `Prefer: wait` / `Prefer: wait=N` (RFC 7240), at most MAX_WAIT_SECONDS; else None."""
    for name, value in headers:
        if name != b"prefer":
            continue
        for preference in value.decode("latin-1").replace(";", ",").split(","):
            key, _, number = preference.strip().partition("=")
            if key.strip().lower() != "wait":
                continue
            number = number.strip().strip('"')
            if not number:
                return MAX_WAIT_SECONDS
            if number.isdigit() and int(number) > 0:
                return min(int(number), MAX_WAIT_SECONDS)
    return None


class LiveJobs:
    """app: the Flask mount (behind BufferedBodies); flask_app: for the settings, the operations and the token."""

    def __init__(self, app, flask_app):
        from pixelforge.internal_requests import token
        from pixelforge.operations import OPERATIONS

        self.app = app
        self.token = token(flask_app)
        self.redis_url = flask_app.config["REDIS_URL"]
        self.download_wait = float(flask_app.config["DOWNLOAD_WAIT_SECONDS"])
        self.operations = set(OPERATIONS)
        self.hubs: dict = {}

    def hub(self) -> JobEventHub:
        loop = asyncio.get_running_loop()
        hub = self.hubs.get(loop)
        if hub is None:
            self.hubs = {key: value for key, value in self.hubs.items() if not key.is_closed()}
            hub = self.hubs[loop] = JobEventHub(self.redis_url)
        return hub

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        scope = _without_internal_marker(scope)
        path, method = scope["path"], scope["method"]
        if self.redis_url and method == "POST" and (match := SUBMISSION.match(path)) \
                and match.group(1) in self.operations and (seconds := prefer_wait(scope["headers"])):
            return await self.submit_and_wait(scope, receive, send, seconds)
        if self.redis_url and method == "GET" and (match := DOWNLOAD.match(path)) and self.download_wait > 0:
            return await self.download_when_done(scope, receive, send, match.group(1))
        if self.redis_url and method == "GET" and (match := EVENTS.match(path)):
            from pixelforge.live.stream import stream_events

            return await stream_events(self, scope, receive, send, match.group(1))
        return await self.app(scope, receive, send)

    async def submit_and_wait(self, scope, receive, send, seconds: int) -> None:
        """The submission as Flask answers it; when that is a 202, the finished job instead (200) if it ends within
        the wait. The connection is all that is held meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        submitted = await calls.capture(self.app, scope, receive)
        applied = (b"preference-applied", f"wait={seconds}".encode())
        job_id = (submitted.json() or {}).get("job_id") if submitted.status == 202 else None
        if job_id is None:
            return await calls.replay(send, submitted)
        gone = calls.watch_disconnect(receive)
        try:
            final = await calls.unless_gone(self.hub().wait_final(job_id, max(0.0, deadline - loop.time())), gone)
        finally:
            calls.stop_watching(gone)
        if final:
            job = await calls.ask(self.app, scope, self.token, f"/api/v1/jobs/{job_id}")
            if job.status == 200 and (job.json() or {}).get("status") in JobStatus.FINAL:
                headers = submitted.with_headers(drop=(b"content-type", b"content-length"),
                                                 add=((b"content-type", b"application/json"), applied))
                return await calls.replay(send, job, headers)
        return await calls.replay(send, submitted, submitted.with_headers(add=(applied,)))

    async def download_when_done(self, scope, receive, send, job_id: str) -> None:
        """A download of an active job waits (up to DOWNLOAD_WAIT_SECONDS) and then downloads, rather than 409."""
        held = _HoldingConflict(send)
        await self.app(scope, receive, held.send)
        if not held.holding:
            return
        if (held.answer.json() or {}).get("error", {}).get("code") != "job_not_finished":
            return await calls.replay(send, held.answer)
        gone, started = calls.watch_disconnect(receive), asyncio.get_running_loop().time()
        try:
            final = await calls.unless_gone(self.hub().wait_final(job_id, self.download_wait), gone)
        finally:
            calls.stop_watching(gone)
        waited = asyncio.get_running_loop().time() - started
        if not final:  # the 409 logged above is then what the client gets
            return None if gone.is_set() else await calls.replay(send, held.answer)
        log.info("GET %s: the 409 above was held %.1f s until the job ended; the download follows", scope["path"],
                 waited)
        await calls.forward(self.app, scope, self.token, scope["path"], scope.get("query_string", b""), send)


class _HoldingConflict:
    """Passes an answer on as it comes, unless it is a 409, which it keeps for the caller to decide on."""

    def __init__(self, send):
        self.downstream, self.holding, self.answer = send, False, calls.Captured()

    async def send(self, message):
        if message["type"] == "http.response.start" and message["status"] == 409:
            self.holding = True
            self.answer.status, self.answer.headers = 409, list(message.get("headers") or [])
        elif self.holding and message["type"] == "http.response.body":
            self.answer.body += message.get("body", b"")
        else:
            await self.downstream(message)


def _without_internal_marker(scope) -> dict:
    """A client's request never carries the internal marker in (the token is random, but there is no need)."""
    if any(name == calls.INTERNAL for name, _ in scope.get("headers") or []):
        return {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != calls.INTERNAL]}
    return scope
