"""A host's job worker processes, kept alive: the part of `serve` that a GPU host runs on its own
(`pixelforge worker --processes N`).

A worker exits by design after WORKER_MAX_JOBS jobs (bounding memory growth), and by accident when it crashes or is
OOM-killed; either way a fresh one takes its place. One that keeps dying at once is restarted with a growing pause,
so a broken host does not spin. Workers die with the pool (parent-death signal): an orphan would hold a job that
nobody supervises.
"""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time

from pixelforge.child_processes import die_with_parent

log = logging.getLogger(__name__)

RESTART_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
QUICK_EXIT_SECONDS = 10.0  # a worker that exits sooner than this counts as failing to start


class WorkerPool:
    """N `pixelforge worker` processes with one environment; restart_dead() is called from the owner's loop."""

    def __init__(self, size: int, env: dict, worker_args: tuple[str, ...] = (), command: str = "worker"):
        self.size, self.env, self.worker_args, self.command = size, env, worker_args, command
        self.processes: list[subprocess.Popen | None] = [None] * size
        self._started_at = [0.0] * size
        self._quick_exits = [0] * size
        self._next_start = [0.0] * size

    def start(self) -> None:
        for index in range(self.size):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        # SIGKILL: a worker whose supervisor is gone cannot be trusted to finish; upkeep reaps its job and refunds it
        self.processes[index] = subprocess.Popen(
            [sys.executable, "-m", "pixelforge.cli", self.command, *self.worker_args], env=self.env,
            preexec_fn=die_with_parent(signal.SIGKILL))
        self._started_at[index] = time.monotonic()

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process is not None]

    def restart_dead(self) -> int:
        """Replace every worker that has exited (after its back-off); returns how many were started."""
        started, now = 0, time.monotonic()
        for index, process in enumerate(self.processes):
            if process is not None and process.poll() is None:
                continue
            if process is not None:
                self._note_exit(index, process.returncode, now)
                self.processes[index] = None
            if now >= self._next_start[index]:
                self._spawn(index)
                started += 1
        return started

    def _note_exit(self, index: int, code: int, now: float) -> None:
        quick = now - self._started_at[index] < QUICK_EXIT_SECONDS
        self._quick_exits[index] = self._quick_exits[index] + 1 if quick else 0
        pause = min(MAX_BACKOFF_SECONDS, RESTART_BACKOFF_SECONDS * 2 ** self._quick_exits[index]) if quick else 0
        self._next_start[index] = now + pause
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with {code}"
        log.warning("%s %d %s; restarting it%s", self.command, index, how, f" in {pause:.0f} s" if pause else "")

    def stop(self, timeout: float = 15.0) -> None:
        running = [p for p in self.processes if p is not None and p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)  # RQ finishes nothing new and ends the job's horse
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_pool(app, size: int, worker_args: tuple[str, ...] = ()) -> int:
    """`pixelforge worker --processes N`: keep the workers alive and run the cluster's upkeep when it is due,
    until SIGTERM or SIGINT."""
    import os

    from pixelforge.extensions import db
    from pixelforge.queue import get_redis
    from pixelforge.upkeep import run_upkeep_once_per_cluster

    env = {**os.environ, "PIXELFORGE_INSTANCE": app.instance_path, "REDIS_URL": app.config["REDIS_URL"]}
    pool, stopping = WorkerPool(size, env, worker_args), []
    sender = WorkerPool(1, env, command="webhooks")  # webhooks go out from the host that runs the jobs
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    pool.start()
    sender.start()
    log.info("worker pool of %d started (pids %s), webhook sender %s", size, pool.pids(), sender.pids())
    last_upkeep = 0.0
    try:
        while not stopping:
            pool.restart_dead()
            sender.restart_dead()
            if time.monotonic() - last_upkeep > app.config["UPKEEP_EVERY_SECONDS"]:
                last_upkeep = time.monotonic()
                with app.app_context():
                    try:
                        run_upkeep_once_per_cluster(get_redis(), app.config["UPKEEP_EVERY_SECONDS"])
                    except Exception as exc:  # the database or Redis briefly away: next round
                        log.warning("upkeep failed: %s", exc)
                    finally:
                        db.session.remove()
            time.sleep(0.5)
    finally:
        pool.stop()
        sender.stop()
    return 0
