"""GET /metrics: the cluster's figures (pixelforge.metrics builds them) for Prometheus, shown to this host or to the
holder of METRICS_TOKEN only."""
from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app

from pixelforge.metrics import ClusterCollector
from pixelforge.web import from_operator

metrics = Blueprint("metrics", __name__)


@metrics.get("/metrics")
def scrape():
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if not current_app.config["METRICS_ENABLED"] or not from_operator():
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
