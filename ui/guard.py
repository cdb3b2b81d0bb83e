"""The guard in front of the mounted Gradio app: only the routes the playground page uses, each for its owner.

Mounted with gr.mount_gradio_app, Gradio trusts the client's file paths and serves anything in its cache to
anyone signed in. The guard wraps the mounted app and matches each request exactly as Gradio's router will (the
same route templates, on the same route path), then:
- answers 404 to every route not in ROUTES (the API, proxy, streaming, monitoring, vibe-edit routes…);
- takes uploads itself (ui/uploads.py: the API's rules, the user's own folder, a quota);
- lets a run (queue/join) name only files the user uploaded, sparing them from the quota while it runs (they
  stay a few minutes after it, so the same picture can run again, then they are swept);
- serves file= only for the user's uploads and for files the playground handed to that user;
- keeps each Gradio session to the user who opened it.
"""
from __future__ import annotations

import json
import os
from urllib.parse import parse_qs

from anyio import to_thread
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from ui import gradio_wire as wire
from ui.ownership import HandedOut, SessionOwners
from ui.session import FlaskSessionReader
from ui.uploads import GONE_MESSAGE, UploadRefused, UploadStore, checked_extension

GET = frozenset({"GET", "HEAD"})
POST = frozenset({"POST"})
ROUTES = (  # (Gradio's route template, methods, what the guard does with it)
    ("/", GET, "open"), ("/config", GET, "open"), ("/config/", GET, "open"),
    ("/assets/{path:path}", GET, "open"), ("/static/{path:path}", GET, "open"),
    ("/svelte/{path:path}", GET, "open"), ("/theme.css", GET, "open"), ("/gradio_api/theme.css", GET, "open"),
    ("/favicon.ico", GET, "open"), ("/robots.txt", GET, "open"), ("/manifest.json", GET, "open"),
    ("/gradio_api/startup-events", GET, "open"), ("/gradio_api/app_id", GET, "open"),
    ("/gradio_api/app_id/", GET, "open"), ("/gradio_api/reset", POST, "open"),
    ("/gradio_api/upload", POST, "upload"), ("/gradio_api/upload_progress", GET, "upload_progress"),
    ("/gradio_api/file={path_or_url:path}", GET, "file"), ("/gradio_api/file/{path:path}", GET, "file"),
    ("/gradio_api/queue/join", POST, "join"), ("/gradio_api/queue/data", GET, "data"),
    ("/gradio_api/heartbeat/{session_hash}", GET, "heartbeat"), ("/gradio_api/cancel", POST, "cancel"),
)
JSON_BODY_LIMIT = 1024 * 1024  # a run's parameters; images travel through the upload route


def route_path(scope: Scope) -> str:
    """The path Gradio's router matches: the request path below the mount's root_path (Starlette's rule)."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root):]
    return path


class PlaygroundGuard:
    """ASGI app wrapping the mounted Gradio app; see the module docstring."""

    def __init__(self, app: ASGIApp, reader: FlaskSessionReader, uploads: UploadStore, handed_out: HandedOut,
                 sessions: SessionOwners):
        self.app, self.reader, self.uploads = app, reader, uploads
        self.handed_out, self.sessions = handed_out, sessions
        self.routes = [(compile_path(template)[0], compile_path(template)[2], methods, kind)
                       for template, methods, kind in ROUTES]

    def classify(self, scope: Scope) -> tuple[str | None, dict]:
        path = route_path(scope)
        for regex, convertors, methods, kind in self.routes:
            match = regex.match(path)
            if match:
                if scope["method"] not in methods:
                    return None, {}
                return kind, {key: convertors[key].convert(value) for key, value in match.groupdict().items()}
        return None, {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind, params = self.classify(scope)
        if kind is None:
            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
            return
        if kind == "open":
            await self.app(scope, receive, send)
            return
        user_id = await to_thread.run_sync(self.reader.existing_user_id, Request(scope).cookies)
        if user_id is None:
            await JSONResponse({"detail": "Not authenticated"}, status_code=401)(scope, receive, send)
            return
        handler = getattr(self, f"_{kind}")
        response = await handler(scope, receive, send, user_id, params)
        if response is not None:
            await response(scope, receive, send)

    # --- one method per kind: a Response to send, or None once Gradio has answered ---------------------

    async def _upload(self, scope, receive, send, user_id, params) -> Response:
        limit = self.uploads.rules.max_bytes
        length = wire.content_length(scope)
        if length is not None and length > limit:
            return PlainTextResponse(f"The upload is over the limit of {limit:,} bytes.", status_code=413)
        request = Request(scope, wire.limited(receive, limit))
        try:
            form = await request.form(max_files=self.uploads.rules.quota_files, max_fields=16)
        except wire.BodyTooLarge:
            return PlainTextResponse(f"The upload is over the limit of {limit:,} bytes.", status_code=413)
        except (HTTPException, MultiPartException, ValueError):
            return PlainTextResponse("The upload is not valid multipart form data.", status_code=400)
        try:
            files = [value for key, value in form.multi_items() if key == "files" and isinstance(value, UploadFile)]
            if not files:
                return PlainTextResponse("No file was uploaded.", status_code=400)
            return await self._keep(user_id, files)
        finally:
            await form.close()

    async def _keep(self, user_id: int, files: list[UploadFile]) -> Response:
        """Keep every file or none."""
        kept = []
        try:
            for upload in files:
                head = await upload.read(64)
                await to_thread.run_sync(_sniff_or_refuse, head, self.uploads.rules.max_pixels)
                await upload.seek(0)
                kept.append(await to_thread.run_sync(self.uploads.save, user_id, await upload.read()))
        except UploadRefused as exc:
            for path in kept:
                path.unlink(missing_ok=True)
            return PlainTextResponse(exc.message, status_code=exc.status)
        return JSONResponse([str(path) for path in kept])

    async def _upload_progress(self, scope, receive, send, user_id, params) -> Response:
        """Uploads are whole when they are answered: their progress stream says so at once."""
        return Response('data: {"msg": "done"}\n\n', media_type="text/event-stream")

    async def _file(self, scope, receive, send, user_id, params) -> Response | None:
        path = params.get("path_or_url") or params.get("path") or ""
        owned = self.uploads.owned(user_id, path) is not None or (
            self.handed_out.owns(user_id, path) and os.path.isfile(path))
        if not owned:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        await self.app(scope, receive, send)
        return None

    async def _join(self, scope, receive, send, user_id, params) -> Response | None:
        payload, body, refusal = await self._json_body(receive)
        if refusal is not None:
            return refusal
        if not self.sessions.claim(payload.get("session_hash"), user_id):
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        uploads = [self.uploads.owned(user_id, path) for path in wire.file_references(payload)]
        if None in uploads or wire.carries_inline_data(payload):
            return JSONResponse({"detail": GONE_MESSAGE}, status_code=422)
        answer: dict = {}
        await self.app(wire.without_compression(scope), wire.replaying(body, receive), wire.capturing(send, answer))
        if answer.get("status") == 200 and uploads:
            try:
                event_id = json.loads(answer["body"])["event_id"]
            except (ValueError, KeyError, TypeError):
                return None
            self.uploads.claim(event_id, uploads)
        return None

    async def _json_body(self, receive) -> tuple[dict, bytes, Response | None]:
        """(payload, raw body, None), or a refusal to send instead."""
        try:
            body = await wire.read_body(receive, JSON_BODY_LIMIT)
        except wire.BodyTooLarge:
            return {}, b"", JSONResponse({"detail": "Request body too large"}, status_code=413)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            payload = None
        if not isinstance(payload, dict):
            return {}, b"", JSONResponse({"detail": "Expected a JSON object"}, status_code=422)
        return payload, body, None

    async def _data(self, scope, receive, send, user_id, params) -> Response | None:
        session_hash = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash", [""])[0]
        if not self.sessions.claim(session_hash, user_id):
            return JSONResponse({"detail": "Not Found"}, status_code=404)

        def on_event(event: dict) -> None:
            paths = [path for path in wire.file_references(event.get("output")) if isinstance(path, str)]
            if paths:
                self.handed_out.record(user_id, paths)  # before the browser can ask for them
            if event.get("msg") == "process_completed" and isinstance(event.get("event_id"), str):
                self.uploads.finish(event["event_id"])

        await self.app(wire.without_compression(scope), receive, wire.watching_events(send, on_event))
        return None

    async def _heartbeat(self, scope, receive, send, user_id, params) -> Response | None:
        if not self.sessions.claim(params.get("session_hash", ""), user_id):
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        await self.app(scope, receive, send)
        return None

    async def _cancel(self, scope, receive, send, user_id, params) -> Response | None:
        payload, body, refusal = await self._json_body(receive)
        if refusal is not None:
            return refusal
        if not self.sessions.claim(payload.get("session_hash"), user_id):
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        await self.app(scope, wire.replaying(body, receive), send)
        return None


def _sniff_or_refuse(head: bytes, max_pixels: int) -> None:
    """Refuse a file whose first bytes are no PNG, JPEG or WebP before reading the rest of it."""
    from pixelforge.images import sniff_format

    if sniff_format(head) is None:
        checked_extension(head, max_pixels)  # raises UploadRefused with the API's message
