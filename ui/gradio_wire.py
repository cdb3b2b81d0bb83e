"""Gradio's wire format as the guard reads it: file references in JSON payloads, server-sent events, and
request bodies read once (within a limit) and replayed to Gradio."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from starlette.types import Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """The request body went past its limit while it was being received."""


def file_references(payload) -> Iterator:
    """Every value of a "path" key in any object of the payload: what Gradio would treat as a file on the server.

    Not only objects marked as gradio.FileData: a component's preprocess reads an unmarked {"path": …} too.
    """
    stack = [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "path" in node:
                yield node["path"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def carries_inline_data(payload) -> bool:
    """True if any object's "url" is a data: URL, which Gradio would decode in place of the uploaded file."""
    stack = [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            url = node.get("url")
            if isinstance(url, str) and url.strip().lower().startswith("data:"):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def limited(receive: Receive, limit: int) -> Receive:
    """receive, raising BodyTooLarge once more than limit body bytes have arrived."""
    seen = 0

    async def guarded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge()
        return message

    return guarded


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, or BodyTooLarge past limit bytes."""
    chunks, more = [], True
    receive = limited(receive, limit)
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands over an already read body, then waits on the real one (for a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def without_compression(scope: Scope) -> Scope:
    """The scope without Accept-Encoding, so the guard reads Gradio's response as plain text."""
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"]
    return {**scope, "headers": headers}


def content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def capturing(send: Send, sink: dict) -> Send:
    """send, also keeping the response's status and body in sink (for short JSON answers)."""
    sink.setdefault("body", b"")

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            sink["status"] = message["status"]
        elif message["type"] == "http.response.body":
            sink["body"] += message.get("body", b"")
        await send(message)

    return capture


def watching_events(send: Send, on_event: Callable[[dict], None]) -> Send:
    """send for a server-sent event stream: on_event sees each complete `data:` JSON event before the client does."""
    buffer = b""

    async def watch(message: Message) -> None:
        nonlocal buffer
        if message["type"] == "http.response.body":
            buffer += message.get("body", b"")
            *complete, buffer = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
            for event in complete:
                for line in event.split(b"\n"):
                    if line.startswith(b"data:"):
                        try:
                            parsed = json.loads(line[5:])
                        except ValueError:
                            continue
                        if isinstance(parsed, dict):
                            on_event(parsed)
        await send(message)

    return watch
