"""One error shape for the whole API, and the one place where domain exceptions become HTTP responses."""
from __future__ import annotations

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from pixelforge.errors import PixelForgeError


class ApiError(PixelForgeError):
    """An error raised by a view that already knows its status and code."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 headers: dict | None = None):
        super().__init__(message, param, code)
        self.status, self._headers = status, headers or {}

    def headers(self) -> dict[str, str]:
        return self._headers


def error_response(status: int, code: str, message: str, param: str | None = None, headers: dict | None = None):
    """The body every API error has: {"error": {code, message, param, request_id}}."""
    body = {"error": {"code": code, "message": message, "param": param, "request_id": g.get("request_id")}}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def for_domain_error(exc: PixelForgeError):
    """Any named error as the API's answer: it says its own status, code, message, param and headers."""
    return error_response(exc.status, exc.code, exc.api_message(), exc.param, exc.headers())


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               413: "upload_too_large", 415: "unsupported_media_type"}


def _for_http_error(exc: HTTPException):
    status = exc.code or 500
    message = exc.description or exc.name
    if status == 413:
        from flask import current_app

        message = f"the request body is over the {current_app.config['MAX_UPLOAD_BYTES']:,}-byte upload limit"
    return error_response(status, _HTTP_CODES.get(status, exc.name.lower().replace(" ", "_")), message)


def register_error_handlers(app: Flask, url_prefix: str) -> None:
    """Under url_prefix, every error (domain, HTTP or unexpected) becomes the API's JSON error body."""

    def in_api() -> bool:
        return request.path.startswith(url_prefix)

    @app.errorhandler(Exception)
    def handle_exception(exc: Exception):
        if not in_api():  # the dashboard handles its own errors; anything else is a real 500
            if isinstance(exc, HTTPException):
                return exc
            raise exc
        if isinstance(exc, HTTPException):
            return _for_http_error(exc)
        if isinstance(exc, PixelForgeError):
            return for_domain_error(exc)
        app.logger.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
