"""Requests the web process makes to itself: the live layer (pixelforge/live) asks Flask for a job's JSON or its
result once the job it waited for has ended. Such a request carries a random per-process token, is authenticated
as usual (the caller's own key), and is not counted against the caller's read limit a second time."""
from __future__ import annotations

import hmac
import secrets

from flask import Flask, current_app

HEADER = "X-PixelForge-Internal"
_EXTENSION = "pixelforge.internal_token"


def token(app: Flask) -> str:
    return app.extensions.setdefault(_EXTENSION, secrets.token_hex(16))


def is_internal(request) -> bool:
    value = request.headers.get(HEADER)
    return bool(value) and request.method == "GET" and hmac.compare_digest(value, token(current_app))
