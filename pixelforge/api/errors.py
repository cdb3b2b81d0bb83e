"""One error shape for the whole API, and the one place where domain exceptions become HTTP responses."""
from __future__ import annotations

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from pixelforge.credits import InsufficientCredits
from pixelforge.idempotency import IdempotencyConflict
from pixelforge.jobs import JobAlreadyFinal, JobHasNoResult, JobNotFinished, JobNotFound, ResultExpired
from pixelforge.operations import ValidationFailed
from pixelforge.queue import QueueUnavailable
from pixelforge.ratelimit import RateLimited
from pixelforge.storage import StorageError, StorageFull
from pixelforge.webhooks import DeliveryNotFound


class ApiError(Exception):
    """An error raised by a view that already knows its status and code."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, param: str | None = None, headers: dict | None = None):
    """The body every API error has: {"error": {code, message, param, request_id}}."""
    body = {"error": {"code": code, "message": message, "param": param, "request_id": g.get("request_id")}}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _for_domain_error(exc: Exception):
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.param, exc.headers)
    if isinstance(exc, ValidationFailed):
        return error_response(422, exc.code, exc.message, exc.param)
    if isinstance(exc, InsufficientCredits):
        return error_response(402, "insufficient_credits", str(exc))
    if isinstance(exc, RateLimited):
        return error_response(429, "rate_limited", f"{exc}; retry after {exc.decision.retry_after} s",
                              headers=exc.decision.headers())
    if isinstance(exc, QueueUnavailable):
        return error_response(503, "service_unavailable", str(exc), headers={"Retry-After": "30"})
    if isinstance(exc, JobNotFound):
        return error_response(404, "job_not_found", "job not found")
    if isinstance(exc, DeliveryNotFound):
        return error_response(404, "delivery_not_found", "webhook delivery not found")
    if isinstance(exc, JobNotFinished):
        return error_response(409, "job_not_finished", str(exc))
    if isinstance(exc, JobHasNoResult):
        job = exc.job
        if job.status == "failed":
            return error_response(502, job.error_code or "job_failed", job.error_message or "the job failed")
        return error_response(409, f"job_{job.status}", f"job {job.id} was {job.status}; it has no result")
    if isinstance(exc, IdempotencyConflict):
        return error_response(409, "idempotency_conflict", str(exc), "Idempotency-Key")
    if isinstance(exc, JobAlreadyFinal):
        return error_response(409, "job_already_final", str(exc))
    if isinstance(exc, ResultExpired):
        return error_response(410, "result_expired", str(exc))
    if isinstance(exc, StorageFull):
        return error_response(507, "insufficient_storage", f"{exc}; nothing was charged, retry later",
                              headers={"Retry-After": "60"})
    if isinstance(exc, StorageError):
        return error_response(502, "storage_error", f"{exc}; retry later")
    return None


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
        response = _for_domain_error(exc)
        if response is not None:
            return response
        app.logger.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
