"""Secrets that every host on one database must share, checked at start through fingerprints kept in it.

API keys are stored as HMACs under KEY_HASH_SECRET and browser sessions are signed with SECRET_KEY, so a host
with its own values would answer 401 to keys made on another. The first process on a database records an HMAC
of a fixed label under each secret (never the secret); a later one with a different secret refuses to start.
"""
from __future__ import annotations

import hashlib
import hmac
import socket

from flask import Flask
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from pixelforge.database import StartupRefused

# setting → the file in the instance folder that holds it when it was generated there
SHARED_SECRETS = {"KEY_HASH_SECRET": "key_hash_secret", "SECRET_KEY": "secret_key"}


class SecretMismatch(StartupRefused):
    """This host's secret differs from the one the database was first used with."""


def fingerprint(setting: str, secret: str) -> str:
    """HMAC-SHA256 of a fixed label under the secret: equal secrets give equal fingerprints, and it reveals
    nothing usable about the secret."""
    label = f"pixelforge shared secret fingerprint: {setting}".encode()
    return hmac.new(secret.encode(), label, hashlib.sha256).hexdigest()


def check_shared_secrets(app: Flask) -> None:
    """Record this host's fingerprints on a database that has none; refuse to start when they differ."""
    from pixelforge.extensions import db

    for setting in SHARED_SECRETS:
        _check(db.engine, app, setting)


def forget_fingerprints(engine: Engine) -> int:
    """Drop the recorded fingerprints (a deliberate secret change); the next process to start records its own."""
    from pixelforge.models import SecretFingerprint

    with engine.begin() as connection:
        return connection.execute(delete(SecretFingerprint.__table__)).rowcount


def _check(engine: Engine, app: Flask, setting: str) -> None:
    from pixelforge.models import SecretFingerprint, utcnow

    table = SecretFingerprint.__table__
    mine = fingerprint(setting, app.config[setting])
    with engine.connect() as connection:
        recorded = connection.execute(select(table).where(table.c.name == setting)).one_or_none()
    if recorded is None:
        try:
            with engine.begin() as connection:
                connection.execute(insert(table).values(name=setting, fingerprint=mine,
                                                        recorded_by=_this_host(app), recorded_at=utcnow()))
            return
        except IntegrityError:  # another process recorded its fingerprint first: compare with that one
            with engine.connect() as connection:
                recorded = connection.execute(select(table).where(table.c.name == setting)).one()
    if not hmac.compare_digest(recorded.fingerprint, mine):
        raise SecretMismatch(_mismatch_message(app, setting, recorded, engine))


def _this_host(app: Flask) -> str:
    return f"{socket.gethostname()}:{app.instance_path}"[:300]


def _mismatch_message(app: Flask, setting: str, recorded, engine: Engine) -> str:
    file_name = SHARED_SECRETS[setting]
    host, _, instance = recorded.recorded_by.partition(":")
    return (
        f"{setting} on this host differs from the one the database {engine.url.render_as_string(hide_password=True)} "
        f"was first used with (by host {host}, instance folder {instance}, at {recorded.recorded_at:%Y-%m-%d %H:%M} "
        f"UTC). Every web host, worker and command on one database needs the same {setting}, or API keys and "
        f"sessions made on one host fail on another. Copy that host's value (its {setting} or "
        f"PIXELFORGE_{setting} environment variable or instance/config.py setting, else its file "
        f"{instance}/{file_name}) to this host: set {setting} in this host's environment, or write it to "
        f"{app.instance_path}/{file_name}. To change the secret everywhere on purpose (every API key and "
        "session made so far stops working), run `pixelforge db forget-secrets` and start again.")
