"""Empty databases for tests that build their own schema: a SQLite file, and PostgreSQL where it runs.

PostgreSQL is the one named by PIXELFORGE_TEST_DATABASE_URL, else the one `.ci/run` sets up; the tests that need
it are skipped where neither answers. They drop every table first, so the `app` fixture puts it back at head.
"""
from __future__ import annotations

import os

import pytest
from sqlalchemy import MetaData, create_engine
from sqlalchemy.exc import OperationalError

CI_POSTGRES_URL = "postgresql+psycopg://pixelforge:pixelforge@127.0.0.1:5432/pixelforge_test"
POSTGRES_URL = os.environ.get("PIXELFORGE_TEST_DATABASE_URL") or CI_POSTGRES_URL


def drop_every_table(engine) -> None:
    """Drop every table in the database, PixelForge's or not, alembic_version included."""
    tables = MetaData()
    tables.reflect(engine)
    tables.drop_all(engine)


def empty_postgres_url() -> str:
    """The test PostgreSQL database with no tables left, or a skip where there is none."""
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        drop_every_table(engine)
    except OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {engine.url.render_as_string(hide_password=True)}: {exc.orig}")
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path) -> str:
    """The URL of an empty database: a SQLite file outside any instance folder, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return empty_postgres_url()
