"""Exceptions that carry what the API said: status, error code, message, the offending parameter and request id."""
from __future__ import annotations

from typing import Any


class PixelForgeError(Exception):
    """Any error answer of the API (or a job that ended without a result)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 param: str | None = None, request_id: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code
        self.param, self.request_id, self.headers = param, request_id, headers or {}

    def __str__(self) -> str:
        where = f" (param {self.param})" if self.param else ""
        request = f" [request {self.request_id}]" if self.request_id else ""
        prefix = f"{self.status} {self.code}: " if self.status else (f"{self.code}: " if self.code else "")
        return f"{prefix}{self.message}{where}{request}"


class AuthenticationError(PixelForgeError):
    """401: the key is missing, invalid or revoked."""


class PermissionDenied(PixelForgeError):
    """403: the account's plan has no API access."""


class InsufficientCredits(PixelForgeError):
    """402: the balance does not cover the job."""


class NotFound(PixelForgeError):
    """404: no such job among yours."""


class Conflict(PixelForgeError):
    """409: not finished yet, already final, or an Idempotency-Key reused for another request."""


class PayloadTooLarge(PixelForgeError):
    """413: the upload is over the server's limit."""


class ValidationError(PixelForgeError):
    """422: a parameter or file the server refused; `param` names it."""


class RateLimited(PixelForgeError):
    """429: still limited after the client's retries; `retry_after` says for how long."""

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        return float(value) if value else None


class ServerError(PixelForgeError):
    """5xx: a storage or inference failure (502), an unavailable service (503), or anything else."""


class JobFailed(PixelForgeError):
    """A job ended as failed or cancelled; `job` is its last state (credits were refunded)."""

    def __init__(self, job: Any):
        error = job.error or {}
        super().__init__(error.get("message") or f"job {job.id} {job.status}", code=error.get("code"))
        self.job = job


class WaitTimeout(PixelForgeError, TimeoutError):
    """The job was still active when wait() gave up; it may still finish."""


_BY_STATUS = {401: AuthenticationError, 402: InsufficientCredits, 403: PermissionDenied, 404: NotFound,
              409: Conflict, 410: NotFound, 413: PayloadTooLarge, 422: ValidationError, 429: RateLimited}


def error_from_response(status: int, body: Any, headers: dict) -> PixelForgeError:
    """The exception for an error answer; a body that is not the API's JSON error still gives a clear message."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"code": "http_error", "message": f"HTTP {status}: {str(body)[:200]}"}
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else PixelForgeError)
    return cls(error.get("message") or f"HTTP {status}", status=status, code=error.get("code"),
               param=error.get("param"), request_id=error.get("request_id") or headers.get("x-request-id"),
               headers={k.lower(): v for k, v in headers.items()})
