"""`pixelforge serve`: an embedded Redis, the web server, job workers and the webhook sender, started and stopped
together.

Workers that die (a crash, an OOM kill, `kill -9`) are restarted; the web server dying stops everything.
The supervisor also runs the job upkeep (reaping, requeueing, expiry), so a job's refund never waits for a
worker to come back. Its children die with it, even when it is killed outright (see child_processes), and a
start first ends any children a killed predecessor left behind.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from flask import Flask
from redis.exceptions import RedisError

from pixelforge.child_processes import ChildRegistry, die_with_parent
from pixelforge.redis_server import EmbeddedRedis
from pixelforge.worker_pool import WorkerPool

log = logging.getLogger(__name__)
WORKERS_WARM_TIMEOUT_SECONDS = 600.0  # a GPU host loading Stable Diffusion from a slow disk takes minutes


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    job_workers: int = 1


class Supervisor:
    def __init__(self, app: Flask, options: ServeOptions):
        self.app, self.options = app, options
        self.redis: EmbeddedRedis | None = None
        self.web: subprocess.Popen | None = None
        self.workers: WorkerPool | None = None
        self.senders: WorkerPool | None = None  # the webhook sender
        self.stopping = False
        self.env = os.environ.copy()
        self.children: ChildRegistry | None = None  # set once this supervisor owns the instance's record

    def start(self) -> None:
        instance = Path(self.app.instance_path)
        registry = ChildRegistry(instance)
        registry.end_stale()
        self.children = registry  # from here on the record is this supervisor's (stop() removes it)
        self.env["PIXELFORGE_INSTANCE"] = str(instance)
        if not self.app.config["REDIS_URL"]:
            self.redis = EmbeddedRedis(instance / "redis").start()
            self.env["REDIS_URL"] = self.redis.url
            log.info("embedded Redis on %s", self.redis.socket)
        if not self.env.get("PIXELFORGE_WORKER_TORCH_THREADS"):  # share the cores the web server leaves
            spare = max(1, (os.cpu_count() or 2) - 1)
            self.env["PIXELFORGE_WORKER_TORCH_THREADS"] = str(max(1, spare // self.options.job_workers))
        self.workers = WorkerPool(self.options.job_workers, self.env)
        self.workers.start()
        self.senders = WorkerPool(1, self.env, command="webhooks")
        self.senders.start()
        self.web = self._spawn_web()
        self._record_children()

    def _spawn_web(self) -> subprocess.Popen:
        bind = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
        command = [sys.executable, "-m", "gunicorn", "--config", "python:pixelforge.gunicorn_config",
                   "--bind", f"{bind}:{self.options.port}", "--log-level", "warning",
                   "pixelforge.asgi:create_asgi_app()"]
        return subprocess.Popen(command, env=self.env, preexec_fn=die_with_parent(signal.SIGTERM))

    def _record_children(self) -> None:
        """Note every process below this one (gunicorn's worker included) for a later start to check."""
        pids = [self.web.pid, *self.workers.pids(), *self.senders.pids()]
        if self.redis is not None and self.redis.process is not None:
            pids.append(self.redis.process.pid)
        self.children.record(pids)

    @property
    def url(self) -> str:
        host = self.options.host if self.options.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.options.port}"

    def wait_until_up(self, timeout: float = 120.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:
                time.sleep(0.2)
        return False

    def wait_for_workers(self, timeout: float) -> bool:
        """Until every job worker started here takes jobs (its installed models are warm, so the first job is as
        fast as the next), one of them exits, a stop is asked for, or timeout; True when all take jobs."""
        from pixelforge.queue import connect_redis, taking_jobs_pids

        redis = connect_redis(self.env.get("REDIS_URL") or self.app.config["REDIS_URL"])
        deadline = time.monotonic() + timeout
        try:
            while not self.stopping and time.monotonic() < deadline:
                if any(process is None or process.poll() is not None for process in self.workers.processes):
                    return False
                try:
                    if set(self.workers.pids()) <= taking_jobs_pids(redis):
                        return True
                except RedisError as error:  # an external Redis away: the workers wait for it too
                    log.warning("cannot see whether the job workers take jobs yet: %s", error)
                    time.sleep(2)
                time.sleep(0.2)
            return False
        finally:
            redis.close()

    def watch(self) -> int:
        """Keep everything running until a signal or the web server's exit; returns the exit code."""
        last_upkeep = 0.0
        while not self.stopping:
            if self.web.poll() is not None:
                log.error("the web server exited with %s; stopping", self.web.returncode)
                return 1
            if self.redis is not None and not self.redis.alive():
                log.error("embedded Redis exited; restarting it")
                self.redis.start()
                last_upkeep = 0.0  # requeue at once what the restart lost (and record the new child)
            if self.workers.restart_dead() + self.senders.restart_dead():
                self._record_children()
            if time.monotonic() - last_upkeep > self.app.config["UPKEEP_EVERY_SECONDS"]:
                last_upkeep = time.monotonic()
                self._record_children()
                self._upkeep()
            time.sleep(0.5)
        return 0

    def _upkeep(self) -> None:
        from pixelforge.extensions import db
        from pixelforge.queue import get_redis
        from pixelforge.upkeep import run_upkeep_once_per_cluster

        with self.app.app_context():
            self.app.config["REDIS_URL"] = self.env.get("REDIS_URL") or self.app.config["REDIS_URL"]
            try:
                run_upkeep_once_per_cluster(get_redis(), self.app.config["UPKEEP_EVERY_SECONDS"])
            finally:
                db.session.remove()

    def stop(self) -> None:
        self.stopping = True
        if self.web is not None and self.web.poll() is None:
            self.web.send_signal(signal.SIGTERM)
        for pool in (self.workers, self.senders):
            if pool is not None:
                pool.stop()
        if self.web is not None:
            try:
                self.web.wait(15)
            except subprocess.TimeoutExpired:
                self.web.kill()
                self.web.wait()
        if self.redis is not None:
            self.redis.stop()
        if self.children is not None:
            self.children.clear()


def serve(app: Flask, options: ServeOptions, after_up: Callable[[], object] | None = None) -> int:
    """Run the whole service in the foreground; Ctrl-C stops all of it. after_up runs once the web answers (the
    first start's model pull, which must not delay it)."""
    supervisor = Supervisor(app, options)

    def request_stop(signum, _frame):
        supervisor.stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        supervisor.start()
        if not supervisor.wait_until_up():
            log.error("the web server did not come up")
            return 1
        _announce_when_workers_take_jobs(supervisor)
        if after_up is not None and not supervisor.stopping:
            after_up()
        return supervisor.watch()
    finally:
        supervisor.stop()


def _announce_when_workers_take_jobs(supervisor: Supervisor) -> None:
    """The "running" line once the job workers take jobs, so a job sent after it does not wait for their warm-up;
    the web answers (health checks, submissions that then queue) from the line before."""
    ready = supervisor.wait_for_workers(timeout=0.5)
    if not ready and not supervisor.stopping:
        print(f"PixelForge's web answers at {supervisor.url}; the job worker is loading its installed models…",
              flush=True)
        ready = supervisor.wait_for_workers(timeout=WORKERS_WARM_TIMEOUT_SECONDS)
    if supervisor.stopping:  # Ctrl-C while the workers warmed up
        return
    if not ready:
        print("The job worker is not taking jobs yet (see its log above); jobs wait in the queue until it does.",
              flush=True)
    print(f"PixelForge is running at {supervisor.url}  (API: {supervisor.url}/api/v1, "
          f"playground: {supervisor.url}/playground/). Press Ctrl-C to stop.", flush=True)
