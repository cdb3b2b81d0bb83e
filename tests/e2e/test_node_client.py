"""Clients that keep connections open between polls (Node's fetch, http.client) never meet a closing socket."""
from __future__ import annotations

import http.client
import io
import json
import shutil
import subprocess
import time

import pytest
import requests
from PIL import Image

from service import LiveService

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NODE = shutil.which("node")

# The seed's Node example polls every 2000 ms with the built-in fetch (undici), which keeps the socket for 4 s.
NODE_POLLER = """
const [base, key, jobId, polls, intervalMs] = process.argv.slice(1);
const errors = [];
for (let i = 0; i < Number(polls); i++) {
  try {
    const response = await fetch(`${base}/api/v1/jobs/${jobId}`, {headers: {Authorization: `Bearer ${key}`}});
    await response.json();
    if (!response.ok) errors.push(`HTTP ${response.status}`);
  } catch (error) {
    errors.push(String(error.cause?.code || error));
  }
  await new Promise((resolve) => setTimeout(resolve, Number(intervalMs)));
}
console.log(JSON.stringify({errors}));
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with LiveService(tmp_path_factory.mktemp("keepalive") / "instance") as live:
        yield live


def submitted_job(service: LiveService) -> tuple[str, str]:
    key = service.user_with_key(f"poller{time.monotonic_ns()}@example.com", credits=5)
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (20, 90, 200)).save(buffer, format="PNG")
    response = requests.post(f"{service.base}/api/v1/enhance", headers={"Authorization": f"Bearer {key}"},
                             files={"image": ("a.png", buffer.getvalue())}, timeout=30)
    assert response.status_code == 202, response.text
    return key, response.json()["job_id"]


def test_an_idle_connection_outlives_a_poll_interval(service):
    """A kept-alive connection left idle 3 s (longer than gunicorn's 2 s default) still serves the next request."""
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    try:
        for _ in range(2):
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
            time.sleep(3)
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200
    finally:
        connection.close()


@pytest.mark.skipif(NODE is None, reason="node is not installed (.ci/run installs nodejs)")
def test_node_fetch_polling_every_two_seconds_meets_no_socket_error(service):
    key, job_id = submitted_job(service)
    result = subprocess.run([NODE, "--input-type=module", "-e", NODE_POLLER, service.base, key, job_id, "30",
                             "2000"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"errors": []}
