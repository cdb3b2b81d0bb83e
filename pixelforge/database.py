"""The database binding: SQLite tuned for concurrent web and worker writers; at start, the schema and the shared
secrets are checked (see migrations and shared_secrets) instead of tables being created on the fly."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import event

from pixelforge.extensions import db


class StartupRefused(RuntimeError):
    """This process must not start on the database as it is; the message says what to do."""


def _tune_sqlite(dbapi_connection, _record) -> None:
    """WAL lets readers and one writer work at once; busy_timeout makes writers wait instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def init_app(app: Flask) -> None:
    """Bind the database; refuse to start (StartupRefused) on an old schema or on another host's secrets."""
    from pixelforge.migrations import ensure_current
    from pixelforge.shared_secrets import check_shared_secrets

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _tune_sqlite)
            db.engine.dispose()  # connections made before the listener existed would miss the pragmas
        from pixelforge import models  # noqa: F401  (tables register on import)

        ensure_current(db.engine)
        check_shared_secrets(app)
