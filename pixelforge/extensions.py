"""Flask extensions, created unbound so that create_app can bind them to any app."""
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, swallow_errors=True, default_limits=[])  # routes name their key
csrf = CSRFProtect()
