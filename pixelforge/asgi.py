"""The served application: a small ASGI root with the Gradio playground at /playground and Flask at /.

Gradio is ASGI and keeps its state in one process, so the root is ASGI and Flask is mounted into it
(not the other way round: queued Gradio events never run when Gradio is mounted inside Flask). For the same reason
the playground is never mounted in a web tier of several processes (two processes broke 8 of 10 runs): such a tier
serves the API and dashboard, and `pixelforge playground` serves /playground in a process of its own.
"""
from __future__ import annotations

import logging
import os

from flask import Flask

log = logging.getLogger(__name__)


def create_asgi_app(flask_app: Flask | None = None, with_playground: bool = True, with_site: bool = True):
    """Root ASGI app: playground first (when enabled, and this is the only web process), then Flask as the
    catch-all (with_site=False: the playground alone, for `pixelforge playground`)."""
    from a2wsgi import WSGIMiddleware
    from fastapi import FastAPI

    from pixelforge import create_app
    from pixelforge.bodies import BodyLimits, BufferedBodies
    from pixelforge.live import LiveJobs
    from pixelforge.web import install_request_id_logging

    if not logging.getLogger().handlers:  # served by gunicorn/uvicorn: our records need a handler too
        logging.basicConfig(level=logging.INFO)
    install_request_id_logging()
    flask_app = flask_app or create_app()
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    if with_playground and flask_app.config["PLAYGROUND_ENABLED"] and _single_process():
        _mount_playground(root, flask_app)
    if with_site:
        flask_threads = WSGIMiddleware(flask_app, workers=flask_app.config["WEB_THREADS"])
        site = BufferedBodies(flask_threads, BodyLimits.from_config(flask_app.config))
        root.mount("/", LiveJobs(site, flask_app))  # waits and event streams on the loop, not in Flask's threads
    return root


def _single_process() -> bool:
    """False in a web tier of several processes (gunicorn_config.post_fork says how many): the playground's
    state would be split between them, so it is left to `pixelforge playground` rather than half working."""
    processes = int(os.environ.get("PIXELFORGE_WEB_PROCESSES", "1") or 1)
    if processes > 1:
        log.warning("%d web processes: the playground is not mounted here; run `pixelforge playground` and route "
                    "/playground/ to it", processes)
    return processes <= 1


def _mount_playground(root, flask_app: Flask) -> None:
    """A web-only host installs no Gradio: it says so once and serves the API and dashboard (an error inside the
    playground's own imports is not swallowed)."""
    try:
        import gradio  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "gradio":
            raise
        log.warning("playground not mounted: Gradio is not installed here (pip install 'pixelforge[playground]')")
        return
    from ui import mount_playground

    mount_playground(root, flask_app)
