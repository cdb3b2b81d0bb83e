"""Calling the Flask mount from the ASGI layer: capture an answer to decide on it, replay it, ask again
internally, and notice a client that went away."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from pixelforge.internal_requests import HEADER

INTERNAL = HEADER.lower().encode()
PASSED_ON = (b"authorization", b"x-request-id", b"host")


@dataclass
class Captured:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def json(self) -> dict | None:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)

    def with_headers(self, drop: tuple[bytes, ...] = (), add: tuple[tuple[bytes, bytes], ...] = ()) -> list:
        return [(key, value) for key, value in self.headers if key not in drop] + list(add)


async def capture(app, scope, receive) -> Captured:
    """The whole answer of app, held back from the client."""
    answer = Captured()

    async def send(message):
        if message["type"] == "http.response.start":
            answer.status, answer.headers = message["status"], list(message.get("headers") or [])
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope, receive, send)
    return answer


async def replay(send, answer: Captured, headers: list | None = None, body: bytes | None = None) -> None:
    body = answer.body if body is None else body
    headers = [(k, v) for k, v in (headers if headers is not None else answer.headers) if k != b"content-length"]
    await send({"type": "http.response.start", "status": answer.status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def internal_scope(scope, token: str, path: str, query: bytes = b"") -> dict:
    """A GET of path as the same caller (key and request id), marked as the web process's own."""
    headers = [(key, value) for key, value in scope["headers"] if key in PASSED_ON]
    return {**scope, "method": "GET", "path": path, "raw_path": path.encode(), "query_string": query,
            "headers": [*headers, (INTERNAL, token.encode())]}


async def _no_body():
    return {"type": "http.request", "body": b"", "more_body": False}


async def ask(app, scope, token: str, path: str, query: bytes = b"") -> Captured:
    return await capture(app, internal_scope(scope, token, path, query), _no_body)


async def forward(app, scope, token: str, path: str, query: bytes, send) -> None:
    """Ask again and pass the answer straight to the client (a result image: not held in memory twice)."""
    await app(internal_scope(scope, token, path, query), _no_body, send)


def watch_disconnect(receive) -> asyncio.Event:
    """An event set when the client disconnects (the request's body must have been read already)."""
    gone = asyncio.Event()

    async def listen():
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
                return

    task = asyncio.get_running_loop().create_task(listen())
    gone.task = task  # kept alive with the event; cancelled by stop_watching
    return gone


def stop_watching(gone: asyncio.Event) -> None:
    task = getattr(gone, "task", None)
    if task is not None:
        task.cancel()


async def unless_gone(awaitable, gone: asyncio.Event):
    """awaitable's result, or None (the awaitable cancelled) once the client has gone."""
    work = asyncio.ensure_future(awaitable)
    waiter = asyncio.ensure_future(gone.wait())
    try:
        done, _ = await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            return work.result()
        return None
    finally:
        for task in (work, waiter):
            if not task.done():
                task.cancel()
