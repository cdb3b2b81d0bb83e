"""GET /metrics: the cluster's figures (pixelforge.metrics builds them) for Prometheus, shown to this host or to the
holder of METRICS_TOKEN only."""
from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Flask, abort, current_app, request

from pixelforge.metrics import ClusterCollector

metrics = Blueprint("metrics", __name__)


def _allowed() -> bool:
    """With METRICS_TOKEN set, that Bearer token; without it, only callers on this host (loopback)."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        return hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}")
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@metrics.get("/metrics")
def scrape():
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if not current_app.config["METRICS_ENABLED"] or not _allowed():
        abort(404)  # not even its existence is shown to the outside
    body = generate_latest(current_app.extensions["pixelforge.metrics"])
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}


def init_app(app: Flask) -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector(app))
    app.extensions["pixelforge.metrics"] = registry
    from pixelforge.extensions import csrf, limiter

    csrf.exempt(metrics)
    limiter.exempt(metrics)
    app.register_blueprint(metrics)
