"""`pixelforge serve` and `pixelforge worker`."""
from __future__ import annotations

import sys

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--job-workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Job worker processes to run beside the web server.")
def serve(host: str, port: int, job_workers: int) -> None:
    """Run everything: web, API, playground, job workers and (unless REDIS_URL is set) an embedded Redis."""
    from pixelforge import create_app
    from pixelforge.child_processes import ServeAlreadyRunning
    from pixelforge.redis_server import EmbeddedRedisError
    from pixelforge.supervisor import ServeOptions, serve as run_service

    try:
        code = run_service(create_app(), ServeOptions(host=host, port=port, job_workers=job_workers))
    except (EmbeddedRedisError, ServeAlreadyRunning) as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@click.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@click.option("--max-jobs", type=int, default=None, help="Exit after this many jobs (a supervisor restarts it).")
@click.option("--processes", type=click.IntRange(1, 64), default=None,
              help="Keep this many worker processes alive (restarted after WORKER_MAX_JOBS, crashes and OOM "
                   "kills) and run the cluster's upkeep: a worker host's whole service.")
def worker(burst: bool, max_jobs: int | None, processes: int | None) -> None:
    """Run job workers (needs REDIS_URL, or the embedded Redis of a running `pixelforge serve`)."""
    app = service_app()
    if not app.config["REDIS_URL"]:
        raise click.ClickException("no REDIS_URL set and no embedded Redis running; start `pixelforge serve` "
                                   "or set REDIS_URL")
    if processes is not None:
        if burst:
            raise click.UsageError("--burst runs one worker until the queue is empty; it cannot be kept alive")
        from pixelforge.worker_pool import run_pool

        sys.exit(run_pool(app, processes, ("--max-jobs", str(max_jobs)) if max_jobs else ()))
    from workers.worker import run_worker

    run_worker(app, burst=burst, max_jobs=max_jobs)


def service_app():
    """The app, on the Redis of a `pixelforge serve` running on this instance when no REDIS_URL is configured,
    so a command shares its queue, rate limits and key cache; without either, the app as configured."""
    from pixelforge import create_app
    from pixelforge.redis_server import running_url

    app = create_app()
    url = None if app.config["REDIS_URL"] else running_url(app.instance_path)
    return create_app({"REDIS_URL": url}) if url else app
