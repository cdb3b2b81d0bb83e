"""Gunicorn's settings for the web process, used by `pixelforge serve` and the Procfile alike:
`gunicorn -c python:pixelforge.gunicorn_config --bind HOST:PORT 'pixelforge.asgi:create_asgi_app()'`.

One uvicorn worker by default (`pixelforge web --processes N` asks for more): Gradio keeps its state in one
process, and Flask gets WEB_THREADS threads inside each. An idle
connection stays open KEEPALIVE_SECONDS: gunicorn's 2 s default closed sockets just as clients polling every 2 s
reused them (Node's fetch then fails with "other side closed"). The worker dies with its master, so a master
killed outright leaves nothing answering on the port.
"""
from __future__ import annotations

import os
import signal


def _settings():
    """PixelForge's configuration as the web app will read it (defaults, instance/config.py, environment)."""
    from flask import Flask

    from pixelforge.config import instance_path_from_env, load_config

    app = Flask("pixelforge", instance_path=instance_path_from_env(), instance_relative_config=True)
    load_config(app, None)
    return app.config


worker_class = "uvicorn_worker.UvicornWorker"
workers = 1
keepalive = int(_settings()["KEEPALIVE_SECONDS"])
timeout = 120  # the worker's heartbeat: an event loop blocked this long is restarted
graceful_timeout = 10
control_socket_disable = True


def post_fork(server, worker) -> None:
    """The web worker is killed when its master dies, however the master died; and it knows how many siblings it
    has (the playground mounts only in a tier of one, see asgi)."""
    from pixelforge.child_processes import set_parent_death_signal

    set_parent_death_signal(signal.SIGKILL, worker.ppid)
    os.environ["PIXELFORGE_WEB_PROCESSES"] = str(server.cfg.workers)
