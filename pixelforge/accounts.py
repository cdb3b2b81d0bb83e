"""Users: create, find, change plan or password, check a password. Credits go through credits.py."""
from __future__ import annotations

import re

from werkzeug.security import check_password_hash, generate_password_hash

from pixelforge import keycache
from pixelforge.credits import grant_credits
from pixelforge.extensions import db
from pixelforge.models import User
from pixelforge.plans import get_plan

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_CHARS = 8


class AccountError(ValueError):
    """A user cannot be created or changed as asked."""


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise AccountError(f"{email!r} is not a valid email address")
    return email


def find_user(email: str) -> User | None:
    return db.session.scalar(db.select(User).filter_by(email=(email or "").strip().lower()))


def get_user(user_id: int) -> User:
    """The user with this id, from the database (the caller's balance is never taken from a cache)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise AccountError(f"no user with id {user_id}")
    return user


def require_user(email: str) -> User:
    user = find_user(email)
    if user is None:
        raise AccountError(f"no user with email {email!r}")
    return user


def create_user(email: str, plan: str = "free", credits: int = 0, password: str | None = None) -> User:
    """A new user with an opening grant of credits recorded in the ledger."""
    email = normalise_email(email)
    get_plan(plan)
    if find_user(email) is not None:
        raise AccountError(f"a user with email {email!r} already exists")
    if credits < 0:
        raise AccountError("credits cannot be negative")
    user = User(email=email, plan=plan, credits=0)
    if password is not None:
        user.password_hash = hash_password(password)
    db.session.add(user)
    db.session.commit()
    if credits:
        grant_credits(user, credits, "grant", "opening balance")
    return user


def hash_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_CHARS:
        raise AccountError(f"passwords need at least {MIN_PASSWORD_CHARS} characters")
    return generate_password_hash(password)


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    db.session.commit()


def set_plan(user: User, plan: str) -> None:
    user.plan = get_plan(plan).name
    db.session.commit()
    keycache.bump_epoch()  # cached API keys carry the plan


def authenticate(email: str, password: str) -> User | None:
    """The user with this email and password, or None (same work either way)."""
    user = find_user(email)
    stored = user.password_hash if user is not None and user.password_hash else None
    ok = check_password_hash(stored or _DUMMY_HASH, password or "")
    return user if user is not None and stored and ok else None


_DUMMY_HASH = generate_password_hash("not-a-real-password")
