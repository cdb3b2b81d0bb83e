"""The real service for the HTTP benchmarks: `pixelforge serve` (tests/service.py's LiveService) plus an
in-process app bound to the same instance folder, database and Redis, for set-up and for routing jobs to
another queue."""
from __future__ import annotations

import importlib
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np
import requests
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
HIGH_RPM = 1_000_000  # the limiter counts every request but never refuses one
EMAIL = "bench@example.com"


def tests_module(name: str) -> ModuleType:
    """A helper module of the tests (tests/<name>.py), imported by path: tests/ is not a package."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO_ROOT / "tests"))


def png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    """A small noisy RGB PNG (noise, so no engine shortcut applies)."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


class BenchService:
    """A running `pixelforge serve` on a loopback port, a pro user with a high limit, and their API key."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="pixelforge-bench-"))
        self.instance = self.folder / "instance"
        limits = json.dumps({"pro": {"rpm": HIGH_RPM}})
        env = {"PIXELFORGE_PLAN_LIMITS": limits, "PIXELFORGE_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}
        self.live = tests_module("service").LiveService(self.instance, env=env)
        self.key = ""
        self.redis_url = ""

    def start(self) -> "BenchService":
        from pixelforge.redis_server import socket_path_for

        self.live.start()
        self.redis_url = f"unix://{socket_path_for(self.instance / 'redis')}"
        app = self.app()
        with app.app_context():
            from pixelforge.accounts import create_user
            from pixelforge.keys import create_key

            self.key = create_key(create_user(EMAIL, "pro", 10_000_000)).secret
        return self

    @property
    def base(self) -> str:
        return self.live.base

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def app(self, **config):
        """A Flask app on the service's instance folder, database and Redis (config overrides on top)."""
        from pixelforge import create_app

        return create_app({"INSTANCE_DIR": str(self.instance), "REDIS_URL": self.redis_url,
                           "PLAN_LIMITS": {"pro": {"rpm": HIGH_RPM}}, **config})

    def session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update(self.headers)
        return session

    def worker_pids(self) -> list[int]:
        return self.live.worker_pids()

    def stop(self) -> None:
        self.live.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
