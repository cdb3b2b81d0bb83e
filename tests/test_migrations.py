"""Schema migrations: a database of the release before migrations upgrades with every row kept; the head matches
the models; processes refuse a database that is not at head (SQLite upgrades itself, one upgrade at a time)."""
from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, create_engine, select, text

from pixelforge import create_app
from pixelforge.cli import main
from pixelforge.extensions import db
from pixelforge.migrations import BASELINE, BASELINE_TABLES, HEAD, SchemaNotCurrent, read_state, upgrade
from empty_databases import empty_database_url  # noqa: F401  (fixture)

DATA = Path(__file__).parent / "data"
KEY_HASH_SECRET = "the release-0.1 host's key secret"
ADA_KEY = "pfk_AdaKey01" + "x" * 40


@pytest.fixture
def pixelforge_cli(tmp_path, monkeypatch):
    """Run `pixelforge …` on an instance folder of its own and the database at `url`."""
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    (instance / "key_hash_secret").write_text(KEY_HASH_SECRET)  # as release 0.1 generated it
    monkeypatch.setenv("PIXELFORGE_INSTANCE", str(instance))
    monkeypatch.delenv("REDIS_URL", raising=False)

    def run(url: str, *args: str):
        monkeypatch.setenv("DATABASE_URL", url)
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return run


def build_release_0_1_database(url: str) -> None:
    """The tables PixelForge 0.1 made with create_all() (frozen DDL), with rows in every one of them."""
    engine = create_engine(url)
    sql = (DATA / f"release-0.1-schema.{engine.dialect.name}.sql").read_text()
    statements = [s for s in "\n".join(l for l in sql.splitlines() if not l.startswith("--")).split(";") if s.strip()]
    when = datetime(2026, 11, 25, 12, 30, 15)
    key_hash = hmac.new(KEY_HASH_SECRET.encode(), ADA_KEY.encode(), hashlib.sha256).hexdigest()
    rows = {
        "users": [dict(id=1, email="ada@example.com", password_hash="scrypt:hash", plan="pro", credits=9,
                       created_at=when),
                  dict(id=2, email="bob@example.com", password_hash=None, plan="free", credits=0, created_at=when)],
        "api_keys": [dict(id=1, user_id=1, name="laptop", prefix=ADA_KEY[:12], key_hash=key_hash, created_at=when,
                          last_used_at=when, revoked_at=None),
                     dict(id=2, user_id=2, name="old", prefix="pfk_BobKey01", key_hash="0" * 64, created_at=when,
                          last_used_at=None, revoked_at=when)],
        "jobs": [dict(id="job-done", user_id=1, operation="upscale", params={"scale": 2}, status="done", credits=1,
                      refunded=False, progress=1.0, engine="classical", model=None, info={"seconds": 0.4},
                      input_key="in/1.png", mask_key=None, result_key="out/1.png", result_type="image/png",
                      input_width=32, input_height=24, error_code=None, error_message=None, worker_name="w1",
                      created_at=when, started_at=when, finished_at=when, heartbeat_at=when, expired_at=None),
                 dict(id="job-failed", user_id=1, operation="inpaint", params={"prompt": "sky"}, status="failed",
                      credits=2, refunded=True, progress=0.5, engine=None, model=None, info=None, input_key="in/2.png",
                      mask_key="in/2-mask.png", result_key=None, result_type=None, input_width=None,
                      input_height=None, error_code="worker_lost", error_message="the worker stopped",
                      worker_name=None, created_at=when, started_at=when, finished_at=when, heartbeat_at=None,
                      expired_at=when)],
        "credit_entries": [dict(id=1, user_id=1, job_id=None, delta=10, reason="grant", note="signup", created_at=when),
                           dict(id=2, user_id=1, job_id="job-done", delta=-1, reason="charge", note=None,
                                created_at=when),
                           dict(id=3, user_id=1, job_id="job-failed", delta=-2, reason="charge", note=None,
                                created_at=when),
                           dict(id=4, user_id=1, job_id="job-failed", delta=2, reason="refund", note=None,
                                created_at=when)],
        "idempotency_records": [dict(id=1, user_id=1, key="retry-1", fingerprint="f" * 64, status_code=202,
                                     body={"job_id": "job-done", "status": "queued"}, created_at=when)],
    }
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
        tables = MetaData()
        tables.reflect(connection)
        for name in BASELINE_TABLES:
            connection.execute(tables.tables[name].insert(), rows[name])
    engine.dispose()


def every_row(url: str, columns: dict[str, list[str]] | None = None) -> dict[str, list[tuple]]:
    """Every row of the baseline tables (only the given columns of each, when given: later migrations add
    columns, which is no change to a row that was there)."""
    engine = create_engine(url)
    tables = MetaData()
    tables.reflect(engine, only=list(BASELINE_TABLES))
    with engine.connect() as connection:
        found = {}
        for name in BASELINE_TABLES:
            table = tables.tables[name]
            names = (columns or {}).get(name) or [column.name for column in table.columns]
            found[name] = sorted(connection.execute(select(*(table.c[n] for n in names))).all(), key=repr)
    engine.dispose()
    return found


def baseline_columns(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    tables = MetaData()
    tables.reflect(engine, only=list(BASELINE_TABLES))
    engine.dispose()
    return {name: [column.name for column in tables.tables[name].columns] for name in BASELINE_TABLES}


def schema_state(url: str):
    engine = create_engine(url)
    with engine.connect() as connection:
        state = read_state(connection)
    engine.dispose()
    return state


def test_upgrade_keeps_every_row_of_a_database_made_before_migrations(empty_database_url, pixelforge_cli,
                                                                     redis_server):
    build_release_0_1_database(empty_database_url)
    columns = baseline_columns(empty_database_url)
    before = every_row(empty_database_url)
    assert all(before[name] for name in BASELINE_TABLES)  # something in every table

    result = pixelforge_cli(empty_database_url, "db", "upgrade")

    assert result.exit_code == 0, result.output
    assert "from none: tables made before migrations existed" in result.output and f"to {HEAD} (head)" in result.output
    assert every_row(empty_database_url, columns) == before
    assert schema_state(empty_database_url).revision == HEAD
    assert pixelforge_cli(empty_database_url, "db", "current").output.strip() == f"{HEAD} (head)"
    # and the key made by that release still opens the account, with the same balance
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_url, "REDIS_URL": redis_server.url,
                      "KEY_HASH_SECRET": KEY_HASH_SECRET, "PLAYGROUND_ENABLED": False})
    response = app.test_client().get("/api/v1/account", headers={"Authorization": f"Bearer {ADA_KEY}"})
    assert response.status_code == 200 and response.get_json()["credits"] == 9
    with app.app_context():
        db.engine.dispose()


def test_a_second_upgrade_has_nothing_to_do(empty_database_url, pixelforge_cli):
    assert pixelforge_cli(empty_database_url, "db", "upgrade").exit_code == 0
    result = pixelforge_cli(empty_database_url, "db", "upgrade")
    assert result.exit_code == 0 and f"is at {HEAD} (head); nothing to do" in result.output


def test_history_lists_the_revisions_newest_first(pixelforge_cli, tmp_path):
    result = pixelforge_cli(f"sqlite:///{tmp_path / 'unused.db'}", "db", "history")
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{HEAD} (head)  ") and lines[-1].startswith(f"{BASELINE}  Baseline")


def test_the_baseline_migration_makes_exactly_the_schema_of_release_0_1(empty_database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from empty_databases import drop_every_table

    build_release_0_1_database(empty_database_url)
    engine = create_engine(empty_database_url)
    release_0_1 = MetaData()
    release_0_1.reflect(engine)
    drop_every_table(engine)
    upgrade(engine, BASELINE)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), release_0_1)
    engine.dispose()
    assert differences == [], "the baseline migration differs from the frozen schema of release 0.1"


def test_the_migrations_head_matches_the_models(empty_database_url):
    """A model change without a migration fails here: write one with `pixelforge db revision -m …`."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(empty_database_url)
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       db.metadata)
    engine.dispose()
    assert differences == [], "models and migrations differ: run `pixelforge db revision -m '…'`"


def test_head_constant_is_the_newest_script():
    from alembic.script import ScriptDirectory

    from pixelforge.migrations import alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


def test_a_process_on_a_shared_database_not_at_head_refuses_to_start(pixelforge_cli, tmp_path):
    """The new release installed on a web or worker host before anyone ran `pixelforge db upgrade`."""
    from empty_databases import empty_postgres_url

    url = empty_postgres_url()
    build_release_0_1_database(url)
    with pytest.raises(SchemaNotCurrent, match=r"tables made before migrations existed.* Run `pixelforge db upgrade`"):
        create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_DIR": str(tmp_path / "web")})
    assert schema_state(url).revision is None  # nothing was changed behind the operator's back

    worker = pixelforge_cli(url, "worker", "--burst")
    assert worker.exit_code == 1 and "Run `pixelforge db upgrade`" in worker.output
    assert "Traceback" not in worker.output
    assert pixelforge_cli(url, "db", "upgrade").exit_code == 0
    create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_DIR": str(tmp_path / "web")})


def test_a_web_host_on_a_database_not_at_head_exits_saying_what_to_run(tmp_path):
    """The Procfile's web process (gunicorn) on the old release's database: it exits instead of serving."""
    from empty_databases import empty_postgres_url
    from service import REPO_ROOT, free_port

    url = empty_postgres_url()
    build_release_0_1_database(url)
    env = {**os.environ, "DATABASE_URL": url, "PIXELFORGE_INSTANCE": str(tmp_path / "web"),
           "PYTHONPATH": str(REPO_ROOT), "PIXELFORGE_PLAYGROUND_ENABLED": "false"}
    env.pop("REDIS_URL", None)
    web = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "python:pixelforge.gunicorn_config",
                          "--bind", f"127.0.0.1:{free_port()}", "wsgi:asgi_app"],
                         env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert web.returncode != 0
    assert "Run `pixelforge db upgrade`" in web.stderr
    assert schema_state(url).revision is None


def test_an_empty_shared_database_is_not_created_implicitly(tmp_path):
    from empty_databases import empty_postgres_url

    url = empty_postgres_url()
    with pytest.raises(SchemaNotCurrent, match="no PixelForge tables yet"):
        create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_DIR": str(tmp_path / "web")})
    assert schema_state(url).revision is None


def test_a_database_from_a_newer_release_is_refused_with_the_reason(tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    engine = create_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaNotCurrent, match="9999, which this release of PixelForge does not know"):
        create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_DIR": str(tmp_path / "instance")})


def test_foreign_tables_that_only_look_like_ours_are_not_adopted(tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)"))
    with pytest.raises(SchemaNotCurrent, match="not api_keys, jobs"):
        upgrade(engine)
    engine.dispose()


def test_the_cli_on_a_fresh_sqlite_instance_makes_its_database(pixelforge_cli, tmp_path):
    """The single-host default needs no `db upgrade`: `users create` on a new instance just works."""
    url = f"sqlite:///{tmp_path / 'instance' / 'pixelforge.db'}"
    result = pixelforge_cli(url, "users", "create", "new@example.com", "--credits", "3")
    assert result.exit_code == 0, result.output
    assert schema_state(url).revision == HEAD


def test_two_processes_upgrading_one_sqlite_file_at_once_both_succeed(tmp_path):
    url = f"sqlite:///{tmp_path / 'raced.db'}"
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "PIXELFORGE_INSTANCE": str(tmp_path / "instance"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "pixelforge.cli", "db", "upgrade"]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert sum("nothing to do" in output for output in outputs) == 1
    assert schema_state(url).revision == HEAD


def test_an_upgrade_logs_its_steps_and_not_alembics_plugins(tmp_path):
    """A first start printed seven 'setup plugin' lines: importing alembic logs them at INFO."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    script = ("import logging; logging.basicConfig(level=logging.INFO); "
              "from sqlalchemy import create_engine; from pixelforge.migrations import upgrade; "
              f"upgrade(create_engine({url!r}))")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    printed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    assert "Running upgrade  -> 0001" in printed.stderr
    assert "setup plugin" not in printed.stderr
