"""Alembic's entry point: migrations run on the connection `pixelforge.migrations` hands over, never on their own."""
from alembic import context

from pixelforge import models  # noqa: F401  (tables register on import, for autogenerate)
from pixelforge.extensions import db

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise RuntimeError("run migrations with `pixelforge db …`, which connects to the configured database")

# render_as_batch: generated ALTERs work on SQLite too (it copies the table), the single-host default
context.configure(connection=connection, target_metadata=db.metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
