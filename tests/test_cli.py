"""The `pixelforge` command's user and key management."""
import pytest
from click.testing import CliRunner

from pixelforge.cli import main


@pytest.fixture
def cli(app, monkeypatch):
    """Run `pixelforge …` against the test app's instance folder and database."""
    monkeypatch.setenv("PIXELFORGE_INSTANCE", app.instance_path)
    monkeypatch.setenv("PIXELFORGE_REDIS_URL", app.config["REDIS_URL"])
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    runner = CliRunner()

    def run(*args, stdin=None):
        return runner.invoke(main, list(args), input=stdin, catch_exceptions=False)

    return run


def test_users_create_list_set_plan_and_credits(cli):
    assert cli("users", "create", "Ada@Example.com", "--plan", "pro", "--credits", "7").exit_code == 0
    assert cli("users", "set-plan", "ada@example.com", "api").exit_code == 0
    assert cli("users", "add-credits", "ada@example.com", "3").exit_code == 0
    lines = cli("users", "list").output.splitlines()
    assert lines[0].split() == ["EMAIL", "PLAN", "CREDITS"]
    assert lines[1].split() == ["ada@example.com", "api", "10"]


@pytest.mark.parametrize("args, message", [
    (("users", "create", "not-an-email"), "not a valid email"),
    (("users", "set-plan", "nobody@example.com", "pro"), "no user"),
    (("users", "add-credits", "nobody@example.com", "1"), "no user"),
    (("keys", "create", "nobody@example.com"), "no user"),
    (("keys", "revoke", "pfk_missing1"), "no active API key"),
])
def test_errors_exit_non_zero_with_a_message(cli, args, message):
    result = cli(*args)
    assert result.exit_code != 0
    assert message in result.output


def test_duplicate_user_is_refused(cli):
    cli("users", "create", "twice@example.com")
    result = cli("users", "create", "twice@example.com")
    assert result.exit_code == 1 and "already exists" in result.output


def test_removing_more_credits_than_held_is_refused(cli):
    cli("users", "create", "poor@example.com", "--credits", "2")
    result = cli("users", "add-credits", "poor@example.com", "--", "-5")
    assert result.exit_code == 1 and "cannot remove" in result.output


def test_set_password_reads_stdin(cli, app):
    from pixelforge.accounts import authenticate

    cli("users", "create", "pw@example.com")
    assert cli("users", "set-password", "pw@example.com", stdin="correct horse\n").exit_code == 0
    assert authenticate("pw@example.com", "correct horse") is not None
    assert cli("users", "set-password", "pw@example.com", stdin="short\n").exit_code == 1


def test_set_password_at_a_terminal_asks_twice_and_hides_it(cli, monkeypatch):
    from pixelforge.accounts import authenticate
    from pixelforge.cli import accounts

    cli("users", "create", "tty@example.com")
    monkeypatch.setattr(accounts, "_stdin_is_terminal", lambda: True)
    result = cli("users", "set-password", "tty@example.com", stdin="correct horse\ncorrect horse\n")
    assert result.exit_code == 0 and "New password" in result.output and "correct horse" not in result.output
    assert authenticate("tty@example.com", "correct horse") is not None
    mismatch = cli("users", "set-password", "tty@example.com", stdin="one password\nanother one\n")
    assert mismatch.exit_code != 0 and "do not match" in mismatch.output
    assert authenticate("tty@example.com", "correct horse") is not None


def test_keys_create_prints_only_the_key_and_it_works(cli, client):
    cli("users", "create", "keys@example.com", "--plan", "pro", "--credits", "1")
    key = cli("keys", "create", "keys@example.com", "--name", "laptop").output.strip()
    assert key.startswith("pfk_") and "\n" not in key
    assert client.get("/api/v1/account", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listing = cli("keys", "list", "keys@example.com").output
    assert key[:12] in listing and "laptop" in listing and "active" in listing and key not in listing
    assert cli("keys", "revoke", key[:12]).exit_code == 0
    assert "revoked" in cli("keys", "list", "keys@example.com").output
    assert client.get("/api/v1/account", headers={"Authorization": f"Bearer {key}"}).status_code == 401
