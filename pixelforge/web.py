"""Request plumbing shared by every part of the site: request ids, Bearer-only API sessions, health checks."""
from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import uuid

from flask import Blueprint, Flask, current_app, g, has_request_context, jsonify, request
from flask.sessions import SecureCookieSessionInterface

from pixelforge.extensions import db

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

log = logging.getLogger("pixelforge.requests")

health = Blueprint("health", __name__)


class BrowserOnlySessions(SecureCookieSessionInterface):
    """No session cookie is read or written under /api/: the API takes Bearer keys and nothing else."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return self.null_session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if request.path.startswith("/api/"):
            return
        super().save_session(app, session, response)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every log record (\"-\" outside a request), for `%(request_id)s`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def _assign_request_id():
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else f"req_{uuid.uuid4().hex}"


def _echo_request_id(response):
    response.headers["X-Request-Id"] = g.get("request_id", "")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/api/") and response.status_code >= 400:  # errors are worth a line each
        level = logging.WARNING if response.status_code >= 500 else logging.INFO
        log.log(level, "%s %s -> %s", request.method, request.path, response.status_code)
    return response


@health.get("/healthz")
def healthz():
    """Alive: the process answers."""
    return {"status": "ok"}


@health.get("/readyz")
def readyz():
    """Ready: the database and Redis answer, at least one worker is alive and storage takes writes; with what each
    live worker can run (device, models, queues)."""
    from pixelforge.queue import get_redis, live_worker_info, live_workers
    from pixelforge.storage import StorageError, get_storage

    checks = {}
    try:
        db.session.execute(db.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, don't raise: this endpoint exists to say what is wrong
        checks["database"] = f"error: {exc}"
    try:
        redis = get_redis()
        redis.ping()
        checks["redis"] = "ok"
        workers = live_workers(redis)
        checks["workers"] = len(workers)
        described = [{"name": info["name"], "device": info.get("device"), "models": sorted(info.get("models") or {}),
                      "queues": info.get("queues", [])} for info in live_worker_info(redis)]
    except Exception as exc:
        checks["redis"] = f"error: {exc}"
        checks["workers"] = 0
        described = []
    try:  # a full disk refuses every submission (507) and fails every job: not ready
        get_storage().check_writable(current_app.config["STORAGE_MIN_FREE_BYTES"])
        checks["storage"] = "ok"
    except StorageError as exc:
        checks["storage"] = f"error: {exc}"
    ready = all(checks[name] == "ok" for name in ("database", "redis", "storage")) and checks["workers"] > 0
    if not from_operator():  # the outside learns what is not ready, not our workers, models or error texts
        checks = {name: "ok" if value == "ok" or (name == "workers" and value) else "error"
                  for name, value in checks.items()}
        described = []
    response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks, "workers": described})
    response.status_code = 200 if ready else 503
    return response


def from_operator() -> bool:
    """Who may see the cluster's inside (/metrics, and /readyz's workers and error texts): with METRICS_TOKEN set,
    the holder of that Bearer token; without it, callers on this host (loopback)."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        from pixelforge.bearer import bearer_token

        return hmac.compare_digest(bearer_token(request.headers.get("Authorization")) or "", token)
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def install_request_id_logging() -> None:
    """Every handler on the root logger prints the request id (called once by the CLI's logging setup)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
            handler.setFormatter(logging.Formatter(LOG_FORMAT))


def init_app(app: Flask) -> None:
    app.session_interface = BrowserOnlySessions()
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
    app.register_blueprint(health)
    if app.config["TRUST_PROXY_HEADERS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
