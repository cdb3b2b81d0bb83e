"""flask-login wiring: sessions for the browser, Bearer keys for the API, one current_user for both.

A browser session stores the user's id with a fingerprint of their password hash (as Django's session auth hash
does): changing the password signs every browser out, on the dashboard and in the playground alike.
"""
from __future__ import annotations

import hashlib
import hmac

from flask import Flask, current_app

from pixelforge.extensions import db, login_manager
from pixelforge.models import User


def _fingerprint(user: User) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    material = f"session:{user.id}:{user.password_hash or ''}".encode()
    return hmac.new(secret, material, hashlib.sha256).hexdigest()[:24]


def session_id(user: User) -> str:
    """What the session cookie holds for user (flask-login's get_id)."""
    return f"{user.id}:{_fingerprint(user)}"


def user_for_session_id(value: object) -> User | None:
    """The user a session value names, if it was made under their current password; else None."""
    user_id, _, fingerprint = str(value).partition(":")
    if not user_id.isdigit() or not fingerprint:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not hmac.compare_digest(fingerprint, _fingerprint(user)):
        return None
    return user


login_manager.user_loader(user_for_session_id)



def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "dashboard.login"
    login_manager.session_protection = "basic"
