"""`pixelforge serve`, `pixelforge worker` and `pixelforge webhooks`."""
from __future__ import annotations

import sys

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--job-workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Job worker processes to run beside the web server.")
@click.option("--offline", is_flag=True,
              help="Do not pull the default models at this start (a first start pulls them).")
@click.option("--pull-models", is_flag=True,
              help="Pull the default models that are not installed, even if an earlier start tried.")
def serve(host: str, port: int, job_workers: int, offline: bool, pull_models: bool) -> None:
    """Run everything: web, API, playground, job workers and (unless REDIS_URL is set) an embedded Redis. The
    first start pulls the default models in the background (PULL_MODELS_ON_START)."""
    from pixelforge import create_app
    from pixelforge.child_processes import ServeAlreadyRunning
    from pixelforge.cli import first_start
    from pixelforge.cli.db import upgrade_configured_database
    from pixelforge.redis_server import EmbeddedRedisError
    from pixelforge.supervisor import ServeOptions, serve as run_service

    if offline and pull_models:
        raise click.UsageError("--offline and --pull-models contradict each other")
    upgraded, message = upgrade_configured_database()  # the one-host service brings its database up to date first
    if upgraded:
        click.echo(message)
    try:
        app = create_app()
        code = run_service(app, ServeOptions(host=host, port=port, job_workers=job_workers),
                           after_up=lambda: first_start.begin(app, offline, pull_models))
    except (EmbeddedRedisError, ServeAlreadyRunning) as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Web processes (gunicorn workers). With more than one, the playground is left to "
                   "`pixelforge playground`.")
def web(host: str, port: int, processes: int) -> None:
    """Run the web tier alone: API, dashboard and docs (no Redis, no workers: point REDIS_URL, DATABASE_URL and
    STORAGE_URL at the shared services)."""
    _exec_gunicorn(host, port, processes, "pixelforge.asgi:create_asgi_app()")  # asgi decides on the playground


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8001, show_default=True, type=int, help="Port to listen on.")
def playground(host: str, port: int) -> None:
    """Run the playground alone, in the single process its state needs; route /playground/ to it (README)."""
    _exec_gunicorn(host, port, 1, "pixelforge.asgi:create_asgi_app(with_site=False)")


def _exec_gunicorn(host: str, port: int, processes: int, app_factory: str) -> None:
    """Become gunicorn (same pid: a service manager's signals reach it), with PixelForge's gunicorn settings."""
    import os

    bind = f"[{host}]" if ":" in host else host
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "--config", "python:pixelforge.gunicorn_config",
                              "--bind", f"{bind}:{port}", "--workers", str(processes), app_factory])


@click.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@click.option("--max-jobs", type=int, default=None, help="Exit after this many jobs (a supervisor restarts it).")
@click.option("--processes", type=click.IntRange(1, 64), default=None,
              help="Keep this many worker processes alive (restarted after WORKER_MAX_JOBS, crashes and OOM "
                   "kills) and run the cluster's upkeep: a worker host's whole service.")
@click.option("--queues", type=click.Choice(["all", "models", "general"]), default="all", show_default=True,
              help="models: only jobs for the models installed here (a dedicated GPU host); general: only jobs "
                   "no model is routed to; all: model jobs first, then general ones.")
def worker(burst: bool, max_jobs: int | None, processes: int | None, queues: str) -> None:
    """Run job workers (needs REDIS_URL, or the embedded Redis of a running `pixelforge serve`)."""
    app = service_app()
    if not app.config["REDIS_URL"]:
        raise click.ClickException("no REDIS_URL set and no embedded Redis running; start `pixelforge serve` "
                                   "or set REDIS_URL")
    if processes is not None:
        if burst:
            raise click.UsageError("--burst runs one worker until the queue is empty; it cannot be kept alive")
        from pixelforge.worker_pool import run_pool

        worker_args = ("--queues", queues, *(("--max-jobs", str(max_jobs)) if max_jobs else ()))
        sys.exit(run_pool(app, processes, worker_args))
    from workers.worker import run_worker

    try:
        run_worker(app, burst=burst, max_jobs=max_jobs, queues=queues)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.option("--burst", is_flag=True, help="Exit when the webhook queue is empty.")
def webhooks(burst: bool) -> None:
    """Send webhook deliveries (`serve` and `worker --processes N` start one; run more on any host)."""
    app = service_app()
    if not app.config["REDIS_URL"]:
        raise click.ClickException("no REDIS_URL set and no embedded Redis running; start `pixelforge serve` "
                                   "or set REDIS_URL")
    from pixelforge.webhook_sender import run_sender

    run_sender(app, burst=burst)


def service_app():
    """The app, on the Redis of a `pixelforge serve` running on this instance when no REDIS_URL is configured,
    so a command shares its queue, rate limits and key cache; without either, the app as configured."""
    from pixelforge import create_app
    from pixelforge.redis_server import running_url

    app = create_app()
    url = None if app.config["REDIS_URL"] else running_url(app.instance_path)
    return create_app({"REDIS_URL": url}) if url else app


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the workers' published records as JSON.")
def workers(as_json: bool) -> None:
    """List the live workers of this cluster and what each can run."""
    import json

    from pixelforge.queue import get_queue, job_queue_names, live_worker_info

    app = service_app()
    if not app.config["REDIS_URL"]:
        raise click.ClickException("no REDIS_URL set and no embedded Redis running")
    with app.app_context():
        infos = live_worker_info()
        depths = {name: get_queue(name).count for name in job_queue_names()}
    if as_json:
        click.echo(json.dumps({"workers": infos, "queues": depths}, indent=2))
        return
    if not infos:
        click.echo("no live workers")
    for info in infos:
        gpu = info.get("gpu")
        memory = f", {gpu['free_bytes'] / 2**30:.1f} of {gpu['total_bytes'] / 2**30:.1f} GiB free" if gpu else ""
        models = ", ".join(sorted(info.get("models") or {})) or "none (classical engines)"
        click.echo(f"{info['name']}  {info.get('device', '?')}{memory}\n  models: {models}\n"
                   f"  queues: {', '.join(info.get('queues', []))}")
    click.echo("queues: " + ", ".join(f"{name} {count}" for name, count in depths.items()))
