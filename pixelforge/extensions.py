"""Flask extensions, created unbound so that create_app can bind them to any app."""
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def _limiter_key() -> str:
    """Rate-limit by signed-in user where there is one, else by client address."""
    from flask import request
    from flask_login import current_user

    if current_user and current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr}"


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
limiter = Limiter(key_func=_limiter_key, swallow_errors=True, default_limits=[])
csrf = CSRFProtect()
