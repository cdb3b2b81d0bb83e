"""`pixelforge db …`: the database's schema version (Alembic migrations shipped in the package) and its secrets."""
from __future__ import annotations

import click


def configured_engine():
    """An engine on the configured database, without create_app: its start-up checks are what these fix."""
    from flask import Flask
    from sqlalchemy import create_engine

    from pixelforge.config import instance_path_from_env, load_config

    settings = Flask("pixelforge", instance_path=instance_path_from_env(), instance_relative_config=True)
    load_config(settings, None)
    connect_args = settings.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {})
    return create_engine(settings.config["SQLALCHEMY_DATABASE_URI"], connect_args=connect_args)


def upgrade_configured_database() -> tuple[bool, str]:
    """Bring the configured database to this release's schema: whether anything changed, and a line that says so."""
    from pixelforge.migrations import upgrade

    engine = configured_engine()
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    shown = engine.url.render_as_string(hide_password=True)
    if before == after:
        return False, f"{shown} is at {after.describe()}; nothing to do"
    return True, f"upgraded {shown} from {before.describe()} to {after.describe()}"


@click.group("db")
def db_group() -> None:
    """Upgrade the database's schema and show its version."""


@db_group.command("upgrade")
def upgrade_command() -> None:
    """Bring the database to this release's schema (run once per release, before starting web hosts)."""
    click.echo(upgrade_configured_database()[1])


@db_group.command("current")
def current_command() -> None:
    """Show the database's schema revision."""
    from pixelforge.migrations import read_state

    engine = configured_engine()
    try:
        with engine.connect() as connection:
            click.echo(read_state(connection).describe())
    finally:
        engine.dispose()


@db_group.command("history")
def history_command() -> None:
    """List the schema revisions this release knows, newest first."""
    from alembic.script import ScriptDirectory

    from pixelforge.migrations import alembic_config

    for script in ScriptDirectory.from_config(alembic_config()).walk_revisions():
        head = " (head)" if script.is_head else ""
        click.echo(f"{script.revision}{head}  {script.doc.splitlines()[0]}")


@db_group.command("revision")
@click.option("-m", "--message", required=True, help="What changed, e.g. 'jobs: add priority'.")
@click.option("--empty", is_flag=True, help="Write an empty script instead of comparing the models with the database.")
def revision_command(message: str, empty: bool) -> None:
    """For developers: write a new migration from the models' difference with the (upgraded) database."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from pixelforge.migrations import alembic_config

    engine = configured_engine()
    try:
        with engine.connect() as connection:
            config = alembic_config(connection)
            newest = ScriptDirectory.from_config(config).get_current_head()
            script = command.revision(config, message=message, autogenerate=not empty,
                                      rev_id=f"{int(newest or 0) + 1:04d}")
            connection.commit()
    finally:
        engine.dispose()
    click.echo(f"wrote {script.path}; review it, and set HEAD in pixelforge/migrations/__init__.py")


@db_group.command("forget-secrets")
@click.confirmation_option(prompt="Every API key and browser session made so far stops working once the secrets "
                                  "change. Forget the recorded secret fingerprints?")
def forget_secrets_command() -> None:
    """Forget the recorded fingerprints of SECRET_KEY and KEY_HASH_SECRET, to change those secrets on purpose."""
    from pixelforge.shared_secrets import forget_fingerprints

    engine = configured_engine()
    try:
        count = forget_fingerprints(engine)
    finally:
        engine.dispose()
    click.echo(f"forgot {count} fingerprint(s); the next process to start records its own")
