"""The real service as a user runs it: `pixelforge serve`, the CLI, the seed's client examples, faults."""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from PIL import Image

from service import LiveService

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEED_PYTHON_EXAMPLE = '''
import requests
API_KEY = "pfk_your_api_key"
BASE = "https://pixelforge.vip/api/v1"
headers = {"Authorization": f"Bearer {API_KEY}"}
# Submit job
with open("photo.jpg", "rb") as f:
    resp = requests.post(
        f"{BASE}/remove-background",
        headers=headers,
        files={"image": f},
    )
job_id = resp.json()["job_id"]
# Poll until done
import time
while True:
    status = requests.get(
        f"{BASE}/jobs/{job_id}", headers=headers
    ).json()
    if status["status"] == "done":
        break
    time.sleep(2)
# Download result
result = requests.get(
    f"{BASE}/jobs/{job_id}/download", headers=headers
)
with open("result.png", "wb") as f:
    f.write(result.content)
'''


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    env = {"PIXELFORGE_WORKER_LOST_AFTER_SECONDS": "6", "PIXELFORGE_WORKER_HEARTBEAT_SECONDS": "1"}
    with LiveService(folder / "instance", env=env) as live:
        yield live


def photo_jpeg(path, width=96, height=64):
    """A photo-like JPEG: a bright subject on a dark, smooth background."""
    y, x = np.mgrid[0:height, 0:width]
    background = np.stack([x * 0.3, y * 0.3, np.full_like(x, 40)], axis=-1)
    subject = ((x - width / 2) ** 2 + (y - height / 2) ** 2) < (min(width, height) / 3) ** 2
    background[subject] = (230, 200, 60)
    Image.fromarray(background.astype(np.uint8)).save(path, format="JPEG", quality=95)


def wait_for(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def test_seed_python_example_runs_unchanged(service, tmp_path):
    key = service.user_with_key("python@example.com", credits=5)
    script = SEED_PYTHON_EXAMPLE.replace("pfk_your_api_key", key).replace("https://pixelforge.vip/api/v1",
                                                                          f"{service.base}/api/v1")
    (tmp_path / "example.py").write_text(script)
    photo_jpeg(tmp_path / "photo.jpg")
    subprocess.run([sys.executable, "example.py"], cwd=tmp_path, check=True, timeout=120)
    result = Image.open(tmp_path / "result.png")
    assert result.format == "PNG" and result.mode == "RGBA" and result.size == (96, 64)
    alpha = np.asarray(result.getchannel("A"))
    assert alpha.min() < 128 < alpha.max()  # background made transparent, subject kept


def test_seed_curl_flow(service, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    key = service.user_with_key("curl@example.com", credits=5)
    photo_jpeg(tmp_path / "photo.jpg")
    submitted = subprocess.run(["curl", "-s", "-X", "POST", f"{service.base}/api/v1/remove-background",
                                "-H", f"Authorization: Bearer {key}", "-F", "image=@photo.jpg"],
                               cwd=tmp_path, capture_output=True, text=True, check=True)
    body = json.loads(submitted.stdout)
    assert body["status"] == "queued"

    def status():
        out = subprocess.run(["curl", "-s", f"{service.base}/api/v1/jobs/{body['job_id']}",
                              "-H", f"Authorization: Bearer {key}"], capture_output=True, text=True).stdout
        return json.loads(out)["status"] == "done"

    wait_for(status, 60)
    subprocess.run(["curl", "-s", "-o", "result.png", f"{service.base}/api/v1/jobs/{body['job_id']}/download",
                    "-H", f"Authorization: Bearer {key}"], cwd=tmp_path, check=True)
    assert Image.open(tmp_path / "result.png").mode == "RGBA"


def test_seed_node_example_gets_a_clear_422(service, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    key = service.user_with_key("node@example.com", credits=5)
    photo_jpeg(tmp_path / "photo.jpg")
    script = textwrap.dedent(f"""
        import fs from "node:fs";
        const API_KEY = "{key}";
        const BASE = "{service.base}/api/v1";
        const headers = {{ Authorization: `Bearer ${{API_KEY}}` }};
        const form = new FormData();
        form.append("image", fs.createReadStream("photo.jpg"));
        const r = await fetch(`${{BASE}}/remove-background`, {{ method: "POST", headers, body: form }});
        console.log(JSON.stringify({{ status: r.status, body: await r.json() }}));
    """)
    (tmp_path / "example.mjs").write_text(script)
    out = subprocess.run([node, "example.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    reply = json.loads(out.stdout)
    assert reply["status"] == 422
    assert reply["body"]["error"]["code"] == "file_sent_as_text"
    assert "[object Object]" in reply["body"]["error"]["message"]


def test_thirty_concurrent_submissions_with_credit_for_ten(service):
    key = service.user_with_key("concurrent@example.com", plan="api", credits=10)
    headers = {"Authorization": f"Bearer {key}"}
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 80, 40)).save(buffer, format="PNG")

    def submit(_):
        return requests.post(f"{service.base}/api/v1/enhance", headers=headers,
                             files={"image": ("a.png", buffer.getvalue())}, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(submit, range(30)))
    assert statuses.count(202) == 10 and statuses.count(402) == 20
    account = requests.get(f"{service.base}/api/v1/account", headers=headers).json()
    assert account["credits"] == 0


def test_submissions_past_the_plan_rate_get_429(service):
    key = service.user_with_key("rate@example.com", plan="pro", credits=100)
    headers = {"Authorization": f"Bearer {key}"}
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    statuses = [requests.post(f"{service.base}/api/v1/enhance", headers=headers,
                              files={"image": ("a.png", buffer.getvalue())}).status_code for _ in range(61)]
    assert statuses[:60] == [202] * 60 and statuses[60] == 429


def test_cli_revocation_and_plan_change_reach_the_running_server_at_once(service):
    """Reads reuse verified keys in the web process; the CLI's changes must still apply to the next request."""
    key = service.user_with_key("revoke@example.com", plan="pro")
    other = service.user_with_key("downgrade@example.com", plan="pro")
    for token in (key, other):
        for _ in range(2):  # verified, then served from the web process's cache
            assert requests.get(f"{service.base}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"},
                                timeout=10).status_code == 200
    service.cli("keys", "revoke", key[:12])
    service.cli("users", "set-plan", "downgrade@example.com", "free")
    revoked = requests.get(f"{service.base}/api/v1/jobs", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "invalid_api_key"
    downgraded = requests.get(f"{service.base}/api/v1/jobs", headers={"Authorization": f"Bearer {other}"}, timeout=10)
    assert downgraded.status_code == 403


def test_killed_worker_job_fails_and_is_refunded(service, tmp_path):
    key = service.user_with_key("kill@example.com", credits=10)
    headers = {"Authorization": f"Bearer {key}"}
    y, x = np.mgrid[0:3000, 0:4000]
    smooth = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(smooth).save(buffer, format="JPEG", quality=80)
    response = requests.post(f"{service.base}/api/v1/upscale", headers=headers, data={"scale": "2"},
                             files={"image": ("big.jpg", buffer.getvalue())})
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]

    def job():
        return requests.get(f"{service.base}/api/v1/jobs/{job_id}", headers=headers).json()

    wait_for(lambda: job()["status"] == "processing", 30, 0.05)
    pids = service.worker_pids()
    assert pids, service.log()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    final = wait_for(lambda: (lambda j: j if j["status"] == "failed" else None)(job()), 30, 0.5)
    assert time.monotonic() - killed_at < 20
    assert final["error"]["code"] == "worker_lost" and final["refunded"] is True
    assert requests.get(f"{service.base}/api/v1/account", headers=headers).json()["credits"] == 10

    # the supervisor started a new worker: the next job runs
    wait_for(lambda: requests.get(f"{service.base}/readyz").status_code == 200, 30)
    small = io.BytesIO()
    Image.new("RGB", (8, 8)).save(small, format="PNG")
    next_id = requests.post(f"{service.base}/api/v1/enhance", headers=headers,
                            files={"image": ("a.png", small.getvalue())}).json()["job_id"]
    wait_for(lambda: requests.get(f"{service.base}/api/v1/jobs/{next_id}", headers=headers)
             .json()["status"] == "done", 60)


def test_oversized_body_is_refused_before_it_is_sent(service):
    """413 arrives while the client has sent only the headers of a 200 MB body."""
    import socket

    key = service.user_with_key("big@example.com", credits=1)
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall((f"POST /api/v1/enhance HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                      "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 200000000\r\n\r\n"
                      "--x\r\n").encode())
        reply = ""
        while '"request_id"' not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk.decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert '"upload_too_large"' in reply
