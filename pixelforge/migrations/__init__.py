"""Schema versions: the Alembic migrations shipped inside the package, so an installed PixelForge can upgrade.

`pixelforge db upgrade` brings a database to HEAD. A database made before migrations existed (tables from
`create_all()`, no alembic_version table) is adopted at the baseline, not re-created. Processes refuse to start
on a database that is not at HEAD, except that a SQLite database (one host) is upgraded on start, under a file
lock so that two processes starting together do not race.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.pool import NullPool

from pixelforge.database import StartupRefused

log = logging.getLogger(__name__)
# Importing alembic logs a line per plugin at INFO, at every start; set before anything here imports it.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

MIGRATIONS_DIR = Path(__file__).resolve().parent
HEAD = "0003"  # the newest revision (tests/test_migrations.py checks it against the scripts); no alembic import
BASELINE = "0001"  # the schema of PixelForge 0.1, whose processes made their tables with create_all()
BASELINE_TABLES = ("users", "api_keys", "jobs", "idempotency_records", "credit_entries")
VERSION_TABLE = "alembic_version"
_POSTGRES_LOCK_KEY = 0x70786667  # pg_advisory_xact_lock key: one upgrade at a time per database


class SchemaNotCurrent(StartupRefused):
    """The database is not at this release's schema; the message says what to run."""


@dataclass(frozen=True)
class SchemaState:
    revision: str | None  # what alembic_version holds; None when it is absent
    legacy_tables: tuple[str, ...] = ()  # PixelForge's tables found in a database with no alembic_version

    @property
    def at_head(self) -> bool:
        return self.revision == HEAD

    def describe(self) -> str:
        if self.revision:
            return f"{self.revision} (head)" if self.at_head else self.revision
        if self.legacy_tables:
            return "none: tables made before migrations existed (`pixelforge db upgrade` adopts them)"
        return "none: no PixelForge tables yet"


def read_state(connection: Connection) -> SchemaState:
    """The database's schema revision, read without Alembic (it is slow to import and startup reads this)."""
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE in tables:
        revisions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        return SchemaState(",".join(sorted(revisions)) or None)
    return SchemaState(None, tuple(name for name in BASELINE_TABLES if name in tables))


def alembic_config(connection: Connection | None = None):
    """Alembic's configuration in code (no alembic.ini): the scripts in this package, our connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> tuple[SchemaState, SchemaState]:
    """Bring the database to `revision`, adopting pre-migration tables at the baseline; returns (before, after)."""
    from alembic import command
    from alembic.util import CommandError

    with _file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # DDL is transactional there: the lock holds to the commit
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_LOCK_KEY})
        before = read_state(connection)
        config = alembic_config(connection)
        if before.revision is None and before.legacy_tables:
            _adopt_legacy_tables(config, before, engine)
        try:
            command.upgrade(config, revision)
        except CommandError as exc:  # a revision this release does not know: a newer release migrated it
            raise SchemaNotCurrent(_not_current_message(before, engine)) from exc
        return before, read_state(connection)


def ensure_current(engine: Engine) -> None:
    """At start: pass at HEAD; upgrade a SQLite database; refuse anything else with what to run."""
    with engine.connect() as connection:
        state = read_state(connection)
    if state.at_head:
        return
    if engine.dialect.name != "sqlite":
        raise SchemaNotCurrent(_not_current_message(state, engine))
    before, after = upgrade(_untuned(engine))
    if before != after:
        log.info("upgraded the SQLite database %s from %s to %s", engine.url.database, before.describe(),
                 after.describe())


def _untuned(engine: Engine) -> Engine:
    """The app's SQLite engine turns foreign keys on, which breaks the table copies of SQLite ALTERs (batch mode):
    upgrade a file through a plain engine. An in-memory database exists only on the app's own."""
    from sqlalchemy import create_engine

    if engine.url.database in (None, "", ":memory:"):
        return engine
    return create_engine(engine.url, connect_args={"timeout": 30}, poolclass=NullPool)


def _adopt_legacy_tables(config, state: SchemaState, engine: Engine) -> None:
    """Tables made by create_all() before migrations: mark them as the baseline, so nothing is re-created."""
    from alembic import command

    missing = [name for name in BASELINE_TABLES if name not in state.legacy_tables]
    if missing:
        raise SchemaNotCurrent(
            f"The database {_shown(engine)} has some of PixelForge's tables ({', '.join(state.legacy_tables)}) but "
            f"not {', '.join(missing)}, and no {VERSION_TABLE} table: it was not made by a PixelForge release. "
            "Point DATABASE_URL at PixelForge's own database.")
    log.warning("adopting tables made before migrations existed as revision %s (nothing is re-created)", BASELINE)
    command.stamp(config, BASELINE)


def _not_current_message(state: SchemaState, engine: Engine) -> str:
    if state.revision and not _known_revision(state.revision):
        return (f"The database {_shown(engine)} is at schema revision {state.revision}, which this release of "
                f"PixelForge does not know (its newest is {HEAD}): a newer release has upgraded it. Install that "
                "release on this host.")
    return (f"The database {_shown(engine)} is at schema revision {state.describe()}; this release of PixelForge "
            f"needs {HEAD}. Run `pixelforge db upgrade` once (from any host with this release and the same "
            "DATABASE_URL), then start this process again.")


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        return all(scripts.get_revision(part) is not None for part in revision.split(","))
    except CommandError:
        return False


def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


@contextmanager
def _file_lock(engine: Engine):
    """SQLite has no advisory locks: a lock file beside the database keeps two upgrades apart."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    from filelock import FileLock

    with FileLock(f"{path}.migrations.lock", timeout=300):
        yield
