"""The served application: a small ASGI root with the Gradio playground at /playground and Flask at /.

Gradio is ASGI and keeps its state in one process, so the root is ASGI and Flask is mounted into it
(not the other way round: queued Gradio events never run when Gradio is mounted inside Flask).
"""
from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger(__name__)


def create_asgi_app(flask_app: Flask | None = None, with_playground: bool = True):
    """Root ASGI app: playground first (when ui/ is importable), then Flask as the catch-all."""
    from a2wsgi import WSGIMiddleware
    from fastapi import FastAPI

    from pixelforge import create_app
    from pixelforge.bodies import BodyLimits, BufferedBodies
    from pixelforge.web import install_request_id_logging

    if not logging.getLogger().handlers:  # served by gunicorn/uvicorn: our records need a handler too
        logging.basicConfig(level=logging.INFO)
    install_request_id_logging()
    flask_app = flask_app or create_app()
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    if with_playground and flask_app.config["PLAYGROUND_ENABLED"]:
        _mount_playground(root, flask_app)
    flask_threads = WSGIMiddleware(flask_app, workers=flask_app.config["WEB_THREADS"])
    root.mount("/", BufferedBodies(flask_threads, BodyLimits.from_config(flask_app.config)))
    return root


def _mount_playground(root, flask_app: Flask) -> None:
    try:
        from ui import mount_playground
    except ImportError as exc:
        log.warning("playground not mounted: %s", exc)
        return
    mount_playground(root, flask_app)
