"""The web tier in several processes (`pixelforge web --processes 2`) beside the playground in its own
(`pixelforge playground`), on one shared database and Redis, as a reverse proxy would put them together."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

from pixelforge.redis_server import EmbeddedRedis
from playground.gradio_session import PlaygroundUser
from service import free_port
from test_service import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def start(args: list[str], env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pixelforge.cli", *args], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="module")
def tier(tmp_path_factory):
    root = tmp_path_factory.mktemp("tier")
    redis = EmbeddedRedis(root / "redis").start()
    env = {**os.environ, "PIXELFORGE_INSTANCE": str(root / "instance"), "REDIS_URL": redis.url,
           "PYTHONUNBUFFERED": "1"}
    web_port, playground_port = free_port(), free_port()
    log = open(root / "tier.log", "wb")
    processes = [start(["web", "--port", str(web_port), "--processes", "2"], env, log),
                 start(["playground", "--port", str(playground_port)], env, log),
                 start(["worker", "--processes", "1"], env, log)]
    web, playground = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{playground_port}"

    def status(url):
        try:
            return requests.get(url, timeout=2, allow_redirects=False).status_code
        except requests.RequestException:
            return None

    try:
        wait_for(lambda: status(web + "/readyz") == 200 and status(playground + "/playground/") == 303, 120)
        yield {"web": web, "playground": playground, "env": env, "log": root / "tier.log"}
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(30)
        redis.stop()


def test_a_key_works_on_every_web_process_and_the_playground_is_not_split(tier):
    subprocess.run([sys.executable, "-m", "pixelforge.cli", "users", "create", "tier@example.com", "--plan", "pro",
                    "--credits", "5"], env=tier["env"], check=True, capture_output=True)
    key = subprocess.run([sys.executable, "-m", "pixelforge.cli", "keys", "create", "tier@example.com"],
                         env=tier["env"], check=True, capture_output=True, text=True).stdout.strip()
    answers = {requests.get(tier["web"] + "/api/v1/account", headers={"Authorization": f"Bearer {key}"},
                            timeout=10).status_code for _ in range(30)}
    assert answers == {200}
    assert requests.get(tier["web"] + "/playground/", timeout=10).status_code == 404  # not half-mounted
    assert "the playground is not mounted here" in tier["log"].read_text()


def test_the_playground_process_serves_the_signed_in_dashboard_user(tier):
    signed_out = requests.get(tier["playground"] + "/playground/", headers={"Accept": "text/html"},
                              allow_redirects=False, timeout=10)
    assert signed_out.status_code == 303 and signed_out.headers["Location"].startswith("/login")
    user = PlaygroundUser(tier["web"]).sign_up("tier-browser@example.com")  # signs in on the web tier
    page = user.http.get(tier["playground"] + "/playground/", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "gradio" in page.text.lower()
    assert requests.get(tier["playground"] + "/api/v1/openapi.json", timeout=10).status_code == 404
