"""The one base of PixelForge's named errors: each says its HTTP status, its code and a title for a person, so the
API, the dashboard and the playground each turn any of them into an answer in one line.

The domain raises these; only the callers' edges (api/errors.py, ui/runner.py, the dashboard) read status and title.
"""
from __future__ import annotations


class PixelForgeError(Exception):
    """A refusal or failure the caller can act on. Subclasses set status, code and title; an instance may name
    the parameter at fault (param) and the headers the answer carries (Retry-After)."""

    status = 500
    code = "internal_error"
    title = "Something went wrong"
    param: str | None = None

    def __init__(self, message: str = "", param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if param is not None:
            self.param = param
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message or super().__str__()

    def api_message(self) -> str:
        """What the API's error body says."""
        return str(self)

    def person_message(self) -> str:
        """What the playground shows under the title."""
        return str(self)

    def headers(self) -> dict[str, str]:
        """Headers the HTTP answer carries (e.g. Retry-After)."""
        return {}


class NotFound(PixelForgeError):
    """Nothing of that kind with that id belongs to the caller (HTTP 404: others' are indistinguishable)."""

    status = 404
    code = "not_found"
    title = "Not found"
    public_message = "not found"

    def api_message(self) -> str:
        return self.public_message


class Conflict(PixelForgeError):
    """The request does not fit the current state of what it names (HTTP 409)."""

    status = 409
    code = "conflict"
    title = "Not now"


class Unavailable(PixelForgeError):
    """A service the request needs is missing or busy: retry later, nothing was charged (HTTP 503)."""

    status = 503
    code = "service_unavailable"
    title = "Service unavailable"
    retry_after_seconds = 30

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}
