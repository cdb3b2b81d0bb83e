"""flask-login wiring: sessions for the browser, Bearer keys for the API, one current_user for both."""
from flask import Flask

from pixelforge.extensions import db, login_manager
from pixelforge.keys import load_user_from_request
from pixelforge.models import User


@login_manager.user_loader
def _load_user(user_id: str):
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


login_manager.request_loader(load_user_from_request)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "dashboard.login"
    login_manager.session_protection = "basic"
