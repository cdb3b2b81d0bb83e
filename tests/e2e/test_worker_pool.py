"""`pixelforge worker --processes N`: a worker host's service on its own, without `serve`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from conftest import image_bytes
from pixelforge.redis_server import EmbeddedRedis
from test_service import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def children_of(pid: int, command: str = "pixelforge.cli worker") -> set[int]:
    """The pool's job workers (its webhook sender, `pixelforge.cli webhooks`, is another child)."""
    out = subprocess.run(["pgrep", "-P", str(pid), "-f", command], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


@pytest.fixture
def worker_host(tmp_path):
    """A Redis of its own and an instance folder, as a worker host beside a web host would have."""
    redis = EmbeddedRedis(tmp_path / "redis").start()
    instance = tmp_path / "instance"
    env = {**os.environ, "PIXELFORGE_INSTANCE": str(instance), "REDIS_URL": redis.url, "PYTHONUNBUFFERED": "1",
           "PIXELFORGE_WORKER_HEARTBEAT_SECONDS": "1", "PIXELFORGE_WORKER_LOST_AFTER_SECONDS": "4"}
    yield instance, redis, env
    redis.stop()


def test_a_pool_keeps_its_workers_alive_and_they_run_jobs(worker_host, tmp_path):
    from pixelforge import create_app
    from pixelforge.accounts import create_user
    from pixelforge.keys import create_key

    instance, redis, env = worker_host
    app = create_app({"INSTANCE_DIR": str(instance), "REDIS_URL": redis.url, "PLAYGROUND_ENABLED": False})
    with app.app_context():
        key = create_key(create_user("pool@example.com", plan="pro", credits=20), "pool").secret
    log = open(tmp_path / "pool.log", "wb")
    pool = subprocess.Popen([sys.executable, "-m", "pixelforge.cli", "worker", "--processes", "2", "--max-jobs", "1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        first = wait_for(lambda: len(children_of(pool.pid)) == 2 and children_of(pool.pid), 30)
        assert wait_for(lambda: len(children_of(pool.pid, "pixelforge.cli webhooks")) == 1, 30)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {key}"}
        wait_for(lambda: client.get("/readyz").status_code == 200, 60)
        job_ids = []
        for _ in range(4):  # more jobs than workers, each worker exits after one: the pool must replace them
            response = client.post("/api/v1/enhance", headers=headers, content_type="multipart/form-data",
                                   data={"image": (__import__("io").BytesIO(image_bytes()), "a.png")})
            assert response.status_code == 202, response.get_json()
            job_ids.append(response.get_json()["job_id"])

        def all_done():
            return all(client.get(f"/api/v1/jobs/{job}", headers=headers).get_json()["status"] == "done"
                       for job in job_ids)

        wait_for(all_done, 120, interval=0.5)
        assert not (children_of(pool.pid) & first)  # every first worker has been replaced

        victim = next(iter(children_of(pool.pid)))
        os.kill(victim, signal.SIGKILL)  # an OOM kill, as the kernel does it
        wait_for(lambda: victim not in children_of(pool.pid) and len(children_of(pool.pid)) == 2, 30)
    finally:
        workers = children_of(pool.pid) | children_of(pool.pid, "pixelforge.cli webhooks")
        pool.send_signal(signal.SIGTERM)
        pool.wait(30)
    assert pool.returncode == 0, (tmp_path / "pool.log").read_text()[-3000:]
    for pid in workers:  # the workers stopped with the pool
        wait_for(lambda: subprocess.run(["ps", "-p", str(pid)], capture_output=True).returncode != 0, 15)


def test_burst_and_processes_do_not_mix(worker_host):
    instance, redis, env = worker_host
    done = subprocess.run([sys.executable, "-m", "pixelforge.cli", "worker", "--processes", "2", "--burst"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--burst" in done.stderr
