"""Faults on the real service: Redis dying under load loses no job and charges nothing twice."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import threading
import time

import pytest
import requests
from PIL import Image

from service import LiveService

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def redis_pid(service: LiveService) -> int:
    out = subprocess.run(["pgrep", "-P", str(service.process.pid), "redis-server"], capture_output=True,
                         text=True).stdout.split()
    assert out, "the embedded redis-server is not a child of the supervisor"
    return int(out[0])


def test_redis_restart_under_load_loses_nothing(tmp_path):
    env = {"PIXELFORGE_WORKER_HEARTBEAT_SECONDS": "1", "PIXELFORGE_PLAN_LIMITS": '{"api": {"rpm": 100000}}'}
    with LiveService(tmp_path / "instance", env=env) as service:
        key = service.user_with_key("redis@example.com", plan="api", credits=1000)
        headers = {"Authorization": f"Bearer {key}"}
        buffer = io.BytesIO()
        Image.new("RGB", (16, 16), (10, 200, 30)).save(buffer, format="PNG")
        results: list[tuple[int, str | None]] = []
        stop = threading.Event()

        def submit_steadily():
            session = requests.Session()
            while not stop.is_set():
                try:
                    response = session.post(f"{service.base}/api/v1/enhance", headers=headers,
                                            files={"image": ("a.png", buffer.getvalue())}, timeout=30)
                    body = response.json()
                    results.append((response.status_code, body.get("job_id")))
                except requests.RequestException as exc:
                    results.append((-1, str(exc)))
                time.sleep(0.03)

        threads = [threading.Thread(target=submit_steadily) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        os.kill(redis_pid(service), signal.SIGKILL)
        time.sleep(4)
        stop.set()
        for thread in threads:
            thread.join()

        statuses = [status for status, _ in results]
        assert set(statuses) <= {202, 503}, statuses
        accepted = [job_id for status, job_id in results if status == 202]
        assert len(accepted) > 10

        deadline = time.monotonic() + 90
        pending = set(accepted)
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                job = requests.get(f"{service.base}/api/v1/jobs/{job_id}", headers=headers).json()
                assert job["status"] in ("queued", "processing", "done"), job
                if job["status"] == "done":
                    pending.discard(job_id)
            time.sleep(0.5)
        assert not pending, f"{len(pending)} accepted job(s) never finished:\n{service.log()[-3000:]}"
        account = requests.get(f"{service.base}/api/v1/account", headers=headers).json()
        assert account["credits"] == 1000 - len(accepted)  # 503s cost nothing; nothing charged twice


def test_recycled_workers_cause_no_refusals(tmp_path):
    """A worker exits after --max-jobs and is restarted; submissions meanwhile are still accepted."""
    env = {"PIXELFORGE_WORKER_MAX_JOBS": "3"}
    with LiveService(tmp_path / "instance", env=env) as service:
        key = service.user_with_key("recycle@example.com", plan="api", credits=100)
        headers = {"Authorization": f"Bearer {key}"}
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG")
        accepted = []
        for _ in range(12):
            response = requests.post(f"{service.base}/api/v1/enhance", headers=headers,
                                     files={"image": ("a.png", buffer.getvalue())})
            assert response.status_code == 202, response.text
            accepted.append(response.json()["job_id"])
            time.sleep(0.3)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            states = {requests.get(f"{service.base}/api/v1/jobs/{job_id}", headers=headers).json()["status"]
                      for job_id in accepted}
            if states == {"done"}:
                break
            time.sleep(0.5)
        assert states == {"done"}, service.log()[-3000:]
        assert "restarting it" in service.log()
