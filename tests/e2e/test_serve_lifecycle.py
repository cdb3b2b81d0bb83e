"""`serve` killed with SIGKILL takes its web server, workers and Redis with it; a later start ends leftovers."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from pixelforge.child_processes import ChildRegistry, ProcessIdentity, descendants
from pixelforge.redis_server import EmbeddedRedis
from service import LiveService

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def wait_until_gone(processes: list[ProcessIdentity], timeout: float) -> list[ProcessIdentity]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [p for p in processes if p.is_running()]
        if not running:
            return []
        time.sleep(0.2)
    return running


def port_is_free(port: int) -> bool:
    """Nothing listens on the port any more (connections the dead server closed may still be in TIME_WAIT, which
    SO_REUSEADDR lets a new server through, as gunicorn itself binds)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_kill_9_of_serve_leaves_no_web_worker_or_redis_running(tmp_path):
    service = LiveService(tmp_path / "instance").start()
    tree = [p for p in map(ProcessIdentity.of, descendants(service.process.pid)) if p]
    try:
        commands = " | ".join(p.cmdline for p in tree)
        for part in ("gunicorn", "pixelforge.cli worker", "redis-server"):
            assert part in commands, commands
        os.kill(service.process.pid, signal.SIGKILL)
        service.process.wait()
        left = wait_until_gone(tree, timeout=15)
        assert not left, [f"{p.pid}: {p.cmdline}" for p in left]
        assert port_is_free(service.port)
        with pytest.raises(requests.ConnectionError):
            requests.get(service.base + "/healthz", timeout=2)
    finally:
        for process in tree:  # a failed run must not leak a headless service into the next tests
            if process.is_running():
                os.kill(process.pid, signal.SIGKILL)


def test_children_left_by_a_killed_serve_are_ended_by_the_next_start(tmp_path):
    """A Redis and a worker a previous `serve` left running are ended before the new one starts its own."""
    instance = tmp_path / "instance"
    stale_redis = EmbeddedRedis(instance / "redis").start()
    env = {**os.environ, "PIXELFORGE_INSTANCE": str(instance), "REDIS_URL": stale_redis.url}
    stale_worker = subprocess.Popen([sys.executable, "-m", "pixelforge.cli", "worker"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gone_supervisor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    supervisor = ProcessIdentity.of(gone_supervisor.pid)
    gone_supervisor.kill()
    gone_supervisor.wait()
    ChildRegistry(instance).write(supervisor, [ProcessIdentity.of(stale_redis.process.pid),
                                               ProcessIdentity.of(stale_worker.pid)])
    try:
        with LiveService(instance) as service:
            assert stale_redis.process.poll() is not None, "the stale redis-server still runs"
            assert stale_worker.poll() is not None, "the stale worker still runs"
            assert requests.get(service.base + "/readyz", timeout=5).status_code == 200
    finally:
        for leftover in (stale_redis.process, stale_worker):
            if leftover.poll() is None:
                leftover.kill()
                leftover.wait()
