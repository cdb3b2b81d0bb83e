"""Request bodies are received whole, in the event loop, before Flask (and one of its request threads) sees them.

Flask runs in a pool of WEB_THREADS threads (a2wsgi): a thread reading a body that arrives a byte a second is a
thread nobody else gets, and a few dozen such clients stalled the whole site. Here a body must keep arriving
(BODY_IDLE_TIMEOUT_SECONDS between chunks) and be complete within BODY_TIMEOUT_SECONDS, or the client gets 408
and the connection is closed; what arrives is spooled to a temporary file past SPOOL_IN_MEMORY_BYTES, so many slow
clients cost little memory. A chunked body is handed on with the Content-Length it turned out to have (Werkzeug
reads no body without one), or refused with 413 once it grows past MAX_UPLOAD_BYTES. A declared Content-Length over
that limit passes straight through: Flask answers it (401/403 first, then 413) without reading a byte.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile

from pixelforge.web import _REQUEST_ID as REQUEST_ID_PATTERN

log = logging.getLogger(__name__)

SPOOL_IN_MEMORY_BYTES = 1024 * 1024
REPLAY_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int
    idle_timeout: float
    total_timeout: float

    @classmethod
    def from_config(cls, config) -> "BodyLimits":
        return cls(max_bytes=config["MAX_UPLOAD_BYTES"], idle_timeout=config["BODY_IDLE_TIMEOUT_SECONDS"],
                   total_timeout=config["BODY_TIMEOUT_SECONDS"])


class BodyRefused(Exception):
    """The body cannot be handed on: it stalled, took too long, or grew past the limit."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ClientGone(Exception):
    """The client disconnected before its body was complete: nobody is left to answer."""


class BufferedBodies:
    """ASGI middleware in front of the Flask mount: the whole body first, then the app."""

    def __init__(self, app, limits: BodyLimits):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not _needs_buffering(scope, self.limits.max_bytes):
            return await self.app(scope, receive, send)
        with SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
            try:
                size = await receive_body(receive, spool, self.limits)
            except ClientGone:
                return None
            except BodyRefused as refusal:
                log.info("%s %s from %s -> %s (%s)", scope["method"], scope["path"], _client(scope),
                         refusal.status, refusal.message)
                return await send_refusal(send, scope, refusal)
            spool.seek(0)
            return await self.app(_with_length(scope, size), _replay(spool, size, receive), send)


def _needs_buffering(scope, max_bytes: int) -> bool:
    """A chunked body, or a declared one within the limit (an empty or oversized one has nothing to wait for)."""
    headers = dict(scope.get("headers") or [])
    if b"transfer-encoding" in headers:
        return True
    try:
        length = int(headers.get(b"content-length", b"0"))
    except ValueError:
        return False  # the HTTP server has already refused such a request
    return 0 < length <= max_bytes


async def receive_body(receive, spool, limits: BodyLimits) -> int:
    """Write the request body into spool within the limits; its size."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.total_timeout
    size = 0
    while True:
        message = await _next_message(receive, min(limits.idle_timeout, deadline - loop.time()), limits)
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limits.max_bytes:
            raise BodyRefused(413, "upload_too_large",
                              f"the request body is over the {limits.max_bytes:,}-byte upload limit")
        spool.write(chunk)
        if not message.get("more_body", False):
            return size


async def _next_message(receive, timeout: float, limits: BodyLimits) -> dict:
    try:
        if timeout <= 0:
            raise asyncio.TimeoutError
        return await asyncio.wait_for(receive(), timeout)
    except asyncio.TimeoutError:
        raise BodyRefused(408, "request_timeout",
                          f"the request body did not arrive in time (each part within {limits.idle_timeout:g} s, "
                          f"all of it within {limits.total_timeout:g} s)") from None


def _with_length(scope, size: int) -> dict:
    """The scope as if the body had been sent with Content-Length: size."""
    headers = [(name, value) for name, value in scope["headers"]
               if name not in (b"transfer-encoding", b"content-length")]
    return {**scope, "headers": [*headers, (b"content-length", str(size).encode())]}


def _replay(spool, size: int, receive):
    """A receive() that hands the spooled body on in chunks, then waits on the client (for its disconnect)."""
    remaining = size

    async def replay():
        nonlocal remaining
        if remaining < 0:
            return await receive()
        chunk = spool.read(min(REPLAY_CHUNK_BYTES, remaining))
        remaining -= len(chunk)
        more = remaining > 0 and bool(chunk)
        if not more:
            remaining = -1
        return {"type": "http.request", "body": chunk, "more_body": more}

    return replay


async def send_refusal(send, scope, refusal: BodyRefused) -> None:
    """The API's error shape, then the connection is closed (the rest of the body is never read)."""
    headers = dict(scope.get("headers") or [])
    incoming = headers.get(b"x-request-id", b"").decode("latin-1")
    request_id = incoming if REQUEST_ID_PATTERN.match(incoming) else f"req_{uuid.uuid4().hex}"
    body = json.dumps({"error": {"code": refusal.code, "message": refusal.message, "param": None,
                                 "request_id": request_id}}).encode()
    await send({"type": "http.response.start", "status": refusal.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), (b"x-request-id", request_id.encode()),
                            (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})


def _client(scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"
