"""`pixelforge users …` and `pixelforge keys …`: accounts and API keys from the command line."""
from __future__ import annotations

import functools
import sys

import click

from pixelforge.config import PLAN_NAMES


def with_app(command):
    """Run the command inside an app context; domain errors become a message on stderr and exit 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from pixelforge.accounts import AccountError
        from pixelforge.cli.processes import service_app
        from pixelforge.keys import KeyNotFound
        from pixelforge.plans import UnknownPlan

        # on a running `serve`'s Redis, so revocations and plan changes reach its cached keys (keycache)
        with service_app().app_context():
            try:
                return command(*args, **kwargs)
            except (AccountError, KeyNotFound, UnknownPlan) as exc:
                raise click.ClickException(str(exc)) from exc

    return wrapper




@click.group()
def users() -> None:
    """Create and change user accounts."""


@users.command("create")
@click.argument("email")
@click.option("--plan", type=click.Choice(PLAN_NAMES), default="free", show_default=True)
@click.option("--credits", type=click.IntRange(0), default=0, show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read a password for the dashboard from stdin.")
@with_app
def create_user_command(email: str, plan: str, credits: int, password_stdin: bool) -> None:
    """Create a user."""
    from pixelforge.accounts import create_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    user = create_user(email, plan=plan, credits=credits, password=password)
    click.echo(f"created {user.email} (plan {user.plan}, {user.credits} credits)")


@users.command("list")
@with_app
def list_users() -> None:
    """List users: EMAIL PLAN CREDITS."""
    from pixelforge.extensions import db
    from pixelforge.models import User

    rows = db.session.scalars(db.select(User).order_by(User.email)).all()
    width = max([len("EMAIL"), *(len(u.email) for u in rows)])
    click.echo(f"{'EMAIL':<{width}}  {'PLAN':<8}  CREDITS")
    for user in rows:
        click.echo(f"{user.email:<{width}}  {user.plan:<8}  {user.credits}")


@users.command("set-plan")
@click.argument("email")
@click.argument("plan", type=click.Choice(PLAN_NAMES))
@with_app
def set_plan_command(email: str, plan: str) -> None:
    """Move a user to another plan."""
    from pixelforge.accounts import require_user, set_plan

    user = require_user(email)
    set_plan(user, plan)
    click.echo(f"{user.email} is now on the {plan} plan")


@users.command("add-credits")
@click.argument("email")
@click.argument("amount", type=int)
@with_app
def add_credits_command(email: str, amount: int) -> None:
    """Add credits (a negative amount removes them, never below zero)."""
    from pixelforge.accounts import AccountError, require_user
    from pixelforge.credits import grant_credits

    user = require_user(email)
    if user.credits + amount < 0:
        raise AccountError(f"{user.email} has {user.credits} credits; cannot remove {-amount}")
    grant_credits(user, amount, "adjustment", "added from the command line")
    click.echo(f"{user.email} now has {user.credits} credits")


@users.command("set-password")
@click.argument("email")
@with_app
def set_password_command(email: str) -> None:
    """Set a user's dashboard password: asked for twice, hidden, at a terminal; else read from stdin's first line."""
    from pixelforge.accounts import require_user, set_password

    user = require_user(email)
    set_password(user, _read_password())
    click.echo(f"password set for {user.email}")


def _read_password() -> str:
    """At a terminal a bare read would sit waiting with no prompt; piped input (scripts, tests) stays one line."""
    if _stdin_is_terminal():
        return click.prompt("New password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\n")


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@click.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.argument("email")
@click.option("--name", default="", help="A label to recognise the key by.")
@with_app
def create_key_command(email: str, name: str) -> None:
    """Create an API key and print it (only this once)."""
    from pixelforge.accounts import require_user
    from pixelforge.keys import create_key

    click.echo(create_key(require_user(email), name).secret)


@keys.command("list")
@click.argument("email")
@with_app
def list_keys_command(email: str) -> None:
    """List a user's keys: PREFIX NAME CREATED LAST_USED STATUS."""
    from pixelforge.accounts import require_user
    from pixelforge.extensions import db
    from pixelforge.models import ApiKey

    user = require_user(email)
    rows = db.session.scalars(db.select(ApiKey).filter_by(user_id=user.id).order_by(ApiKey.created_at)).all()
    click.echo(f"{'PREFIX':<14}{'NAME':<20}{'CREATED':<22}{'LAST_USED':<22}STATUS")
    for key in rows:
        last = key.last_used_at.strftime("%Y-%m-%d %H:%M:%S") if key.last_used_at else "never"
        status = "revoked" if key.revoked_at else "active"
        click.echo(f"{key.prefix:<14}{key.name[:18]:<20}{key.created_at:%Y-%m-%d %H:%M:%S}   {last:<22}{status}")


@keys.command("revoke")
@click.argument("prefix")
@with_app
def revoke_key_command(prefix: str) -> None:
    """Revoke the key whose prefix (pfk_XXXXXXXX) is given."""
    from pixelforge.keys import revoke_key

    revoke_key(prefix)
    click.echo(f"revoked {prefix}")
