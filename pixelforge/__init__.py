"""PixelForge: a self-hostable image-AI service. create_app builds the web application."""
from __future__ import annotations

from flask import Flask

from pixelforge.config import instance_path_from_env, load_config


def create_app(test_config: dict | None = None) -> Flask:
    """The Flask app: configuration, extensions, the API blueprint, the dashboard."""
    instance = (test_config or {}).get("INSTANCE_DIR") or instance_path_from_env()
    app = Flask(__name__, instance_path=instance, instance_relative_config=True)
    load_config(app, test_config)

    from pixelforge import api, auth, dashboard, database, key_lookup, metrics_endpoint, operations, web
    from pixelforge.extensions import csrf, limiter
    from pixelforge.queue import limits_storage_uri

    app.config["RATELIMIT_STORAGE_URI"] = limits_storage_uri(app.config["RATELIMIT_STORAGE_URI"])
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    operations.init_app(app)
    database.init_app(app)
    auth.init_app(app)
    key_lookup.init_app(app)
    limiter.init_app(app)
    csrf.init_app(app)
    web.init_app(app)
    api.init_app(app)
    metrics_endpoint.init_app(app)
    dashboard.init_app(app)
    return app
