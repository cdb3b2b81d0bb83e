"""The dashboard's sign-in, seen from the ASGI side: read Flask's session cookie, send anonymous visitors to /login.

Flask signs its session cookie; the Flask app's own session interface reads it here, so the playground
trusts exactly what the dashboard trusts and there is one sign-in for both.
"""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from anyio import to_thread
from flask import Flask
from itsdangerous import BadSignature
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class FlaskSessionReader:
    """Who is signed in, from the cookies of a request to the playground."""

    def __init__(self, flask_app: Flask):
        self.flask_app = flask_app

    def session_value(self, cookies: Mapping[str, str]) -> str | None:
        """flask-login's user value in a valid, unexpired session cookie, or None."""
        app = self.flask_app
        raw = cookies.get(app.config["SESSION_COOKIE_NAME"])
        if not raw:
            return None
        serializer = app.session_interface.get_signing_serializer(app)
        if serializer is None:  # no SECRET_KEY: Flask itself would have no sessions either
            return None
        try:
            data = serializer.loads(raw, max_age=int(app.permanent_session_lifetime.total_seconds()))
        except BadSignature:  # includes expired signatures
            return None
        value = data.get("_user_id") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None

    def existing_user_id(self, cookies: Mapping[str, str]) -> int | None:
        """The signed-in user's id, only while the account exists and the session was made under its current
        password (the dashboard's rule, auth.user_for_session_id)."""
        from pixelforge.auth import user_for_session_id

        value = self.session_value(cookies)
        if value is None:
            return None
        with self.flask_app.app_context():
            user = user_for_session_id(value)
            return user.id if user is not None else None

    async def gradio_user(self, request: Request) -> str | None:
        """Gradio's auth_dependency: the user id as a string, or None (Gradio answers 401)."""
        user_id = await to_thread.run_sync(self.existing_user_id, request.cookies)
        return str(user_id) if user_id is not None else None


class SignInRedirect:
    """ASGI middleware: a signed-out browser asking for a playground page is sent to /login?next=….

    Gradio's own check answers 401 to everything else under the prefix (its API, its queue); pages
    get a redirect because a person, not a program, is on the other end.
    """

    def __init__(self, app: ASGIApp, reader: FlaskSessionReader, prefix: str = "/playground",
                 login_path: str = "/login"):
        self.app, self.reader, self.prefix, self.login_path = app, reader, prefix.rstrip("/"), login_path

    def _is_page(self, scope: Scope) -> bool:
        path = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            return False
        if path in (self.prefix, self.prefix + "/"):
            return True
        if not path.startswith(self.prefix + "/"):
            return False
        accept = dict(scope.get("headers") or []).get(b"accept", b"")
        return b"text/html" in accept  # a navigation to a sub-page, not an asset or an API call

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._is_page(scope):
            request = Request(scope)
            user_id = await to_thread.run_sync(self.reader.existing_user_id, request.cookies)
            if user_id is None:
                root = scope.get("root_path", "")
                target = quote(root + self.prefix + "/", safe="/")
                response = RedirectResponse(f"{root}{self.login_path}?next={target}", status_code=303)
                response.headers["Cache-Control"] = "no-store"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
