"""The `pixelforge` command: serve, web, playground, worker, workers, webhooks, users, keys, models, db."""
from __future__ import annotations

import logging

import click

from pixelforge.cli.accounts import keys, users
from pixelforge.cli.db import db_group
from pixelforge.cli.models import models
from pixelforge.cli.processes import playground, serve, web, webhooks, worker, workers


class PixelForgeCommand(click.Group):
    """Start-up refusals (an old schema, another host's secrets) are a message and exit 1, not a traceback."""

    def invoke(self, ctx: click.Context):
        from pixelforge.database import StartupRefused

        try:
            return super().invoke(ctx)
        except StartupRefused as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=PixelForgeCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--verbose", "-v", is_flag=True, help="Log at DEBUG level.")
def main(verbose: bool) -> None:
    """PixelForge: self-hostable image AI (upscale, background removal, faces, enhance, erase, inpaint)."""
    from pixelforge.web import install_request_id_logging

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO)
    install_request_id_logging()


main.add_command(serve)
main.add_command(web)
main.add_command(playground)
main.add_command(worker)
main.add_command(workers)
main.add_command(webhooks)
main.add_command(users)
main.add_command(keys)
main.add_command(db_group)
main.add_command(models)
