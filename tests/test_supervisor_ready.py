"""`serve` says it is running once its job workers take jobs (their installed models are warm), so a job sent after
that line does not wait for a warm-up; the web answers before. Real Redis and RQ's own worker registration; the
worker's process is a stand-in that sleeps (its warm-up is what the test controls)."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest
from redis import Redis

from pixelforge.supervisor import ServeOptions, Supervisor, _announce_when_workers_take_jobs
from pixelforge.worker_pool import WorkerPool


@pytest.fixture
def supervisor(app, redis_server):
    """A supervisor whose one job worker is a sleeping process (nothing else of it is started)."""
    supervised = Supervisor(app, ServeOptions())
    supervised.env["REDIS_URL"] = redis_server.url
    supervised.workers = WorkerPool(1, supervised.env)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    supervised.workers.processes = [process]
    yield supervised
    process.kill()
    process.wait()


def start_working_later(redis_url: str, pid: int, after: float) -> threading.Thread:
    """What a worker does once warm: RQ registers it as it starts working its queues."""
    from rq import Queue, Worker

    def register():
        time.sleep(after)
        redis = Redis.from_url(redis_url)
        Worker([Queue("pixelforge", connection=redis)], connection=redis,
               name=f"{socket.gethostname()}.{pid}.abcdef").register_birth()

    thread = threading.Thread(target=register, daemon=True)
    thread.start()
    return thread


def test_the_running_line_waits_for_the_worker_to_take_jobs(supervisor, redis_server, capsys):
    worker_pid = supervisor.workers.pids()[0]
    start_working_later(redis_server.url, worker_pid, after=1.5)
    started = time.monotonic()
    _announce_when_workers_take_jobs(supervisor)
    waited = time.monotonic() - started
    lines = capsys.readouterr().out.splitlines()
    assert waited >= 1.4
    assert "the job worker is loading its installed models" in lines[0]
    assert lines[-1].startswith("PixelForge is running at http://127.0.0.1:8000") and len(lines) == 2


def test_a_worker_taking_jobs_already_gets_the_running_line_at_once(supervisor, redis_server, capsys):
    start_working_later(redis_server.url, supervisor.workers.pids()[0], after=0).join()
    _announce_when_workers_take_jobs(supervisor)
    assert capsys.readouterr().out.splitlines() == [
        "PixelForge is running at http://127.0.0.1:8000  (API: http://127.0.0.1:8000/api/v1, playground: "
        "http://127.0.0.1:8000/playground/). Press Ctrl-C to stop."]


def test_a_worker_that_exits_while_warming_does_not_hold_the_line_back(supervisor, capsys):
    supervisor.workers.processes[0].kill()
    started = time.monotonic()
    _announce_when_workers_take_jobs(supervisor)
    lines = capsys.readouterr().out.splitlines()
    assert time.monotonic() - started < 5
    assert "not taking jobs yet" in lines[-2] and lines[-1].startswith("PixelForge is running at")


def test_a_redis_that_cannot_be_reached_does_not_stop_serve(supervisor, capsys, monkeypatch):
    monkeypatch.setitem(supervisor.env, "REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens on the discard port
    monkeypatch.setattr("pixelforge.supervisor.WORKERS_WARM_TIMEOUT_SECONDS", 3.0)
    _announce_when_workers_take_jobs(supervisor)
    lines = capsys.readouterr().out.splitlines()
    assert "not taking jobs yet" in lines[-2] and lines[-1].startswith("PixelForge is running at")


def test_ctrl_c_while_the_workers_warm_up_announces_nothing(supervisor, capsys):
    threading.Timer(1.0, lambda: setattr(supervisor, "stopping", True)).start()  # what serve's SIGINT handler does
    _announce_when_workers_take_jobs(supervisor)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "loading its installed models" in lines[0]
