"""Admission and routing by what live workers publish, never by the web host's own models folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import image_bytes, mask_bytes
from pixelforge.storage import StorageError
from pixelforge.model_registry import REGISTRY


def queued_on(name: str) -> list[str]:
    from pixelforge.queue import get_queue

    return get_queue(name).get_job_ids()


def install_on_web_host(app, name: str) -> None:
    """Put a model's files in the web host's own models folder (which admission must ignore)."""
    for spec in REGISTRY.get(name).files:
        path = Path(app.config["MODELS_DIR"]) / name / spec.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


@pytest.fixture
def require_workers(app):
    app.config["REQUIRE_LIVE_WORKER"] = True


def test_a_job_a_live_worker_can_run_on_a_model_goes_to_that_models_queue(app, api, live_worker, require_workers):
    live_worker(name="cpu-host")  # classical engines only
    live_worker("realesr-general-x4v3", name="model-host")
    job_id = api.submit("upscale", image_bytes(), scale="4").get_json()["job_id"]
    assert queued_on("pixelforge:model:realesr-general-x4v3") == [job_id]
    restore = api.submit("restore-face", image_bytes()).get_json()["job_id"]  # nobody has gfpgan: any worker
    assert queued_on("pixelforge") == [restore]


def test_a_gpu_worker_chooses_the_model_when_several_could_run_it(app, api, live_worker, require_workers):
    live_worker("realesr-general-x4v3", name="cpu-host")
    live_worker("realesrgan-x4plus", "realesr-general-x4v3", device="cuda", name="gpu-host")
    job_id = api.submit("upscale", image_bytes(), scale="4").get_json()["job_id"]
    assert queued_on("pixelforge:model:realesrgan-x4plus") == [job_id]


def test_inpaint_is_refused_when_only_the_web_host_has_the_model(app, api, live_worker, require_workers):
    install_on_web_host(app, "sd-inpainting")
    live_worker(name="cpu-host")
    response = api.submit("inpaint", image_bytes(), mask_bytes(), prompt="a cat")
    assert response.status_code == 503
    assert "no live worker" in response.get_json()["error"]["message"]
    assert api.user.credits == 10


def test_inpaint_is_admitted_when_a_worker_has_the_model_and_the_web_host_does_not(app, api, live_worker,
                                                                                    require_workers):
    live_worker("sd-inpainting", name="gpu-host", device="cuda")
    response = api.submit("inpaint", image_bytes(), mask_bytes(), prompt="a cat")
    assert response.status_code == 202, response.get_json()
    assert queued_on("pixelforge:model:sd-inpainting") == [response.get_json()["job_id"]]


def test_a_named_background_model_needs_a_worker_with_it(app, api, live_worker, require_workers):
    live_worker("rembg-isnet-general-use", name="host")
    refused = api.submit("remove-background", image_bytes(), model="u2net")
    assert refused.status_code == 503 and "u2net" in refused.get_json()["error"]["message"]
    accepted = api.submit("remove-background", image_bytes(), model="isnet-general-use")
    assert accepted.status_code == 202
    assert queued_on("pixelforge:model:rembg-isnet-general-use") == [accepted.get_json()["job_id"]]


def test_lost_jobs_are_requeued_on_their_route(app, api, live_worker, require_workers):
    from pixelforge.queue import get_redis
    from pixelforge.upkeep import requeue_missing_jobs

    live_worker("sd-inpainting", name="gpu-host", device="cuda")
    job_id = api.submit("inpaint", image_bytes(), mask_bytes(), prompt="a cat").get_json()["job_id"]
    get_redis().delete("rq:queue:pixelforge:model:sd-inpainting")  # Redis lost the queue
    get_redis().delete("pixelforge:workers")  # and the worker is gone for now
    assert requeue_missing_jobs() == 1
    assert queued_on("pixelforge:model:sd-inpainting") == [job_id]  # waits there for a worker with the model


def test_readyz_lists_what_each_worker_can_run(app, client, live_worker):
    live_worker("lama", name="gpu-host", device="cuda")
    workers = client.get("/readyz").get_json()["workers"]
    assert workers == [{"name": "gpu-host", "device": "cuda", "models": ["lama"],
                        "queues": ["pixelforge:model:lama", "pixelforge"]}]


def test_readyz_shows_the_outside_only_what_is_not_ready(app, client, live_worker, monkeypatch):
    """Worker names, models and error texts are the operator's (this host, or METRICS_TOKEN's holder)."""
    live_worker("lama", name="gpu-host", device="cuda")
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    answer = client.get("/readyz", environ_base=outside).get_json()
    assert answer == {"status": "ready", "workers": [],
                      "checks": {"database": "ok", "redis": "ok", "workers": "ok", "storage": "ok"}}
    monkeypatch.setattr("pixelforge.storage.local.LocalStorage.check_writable",
                        lambda *a: (_ for _ in ()).throw(StorageError("/srv/secret/path is read-only")))
    broken = client.get("/readyz", environ_base=outside)
    assert broken.status_code == 503 and broken.get_json()["checks"]["storage"] == "error"
    assert "/srv/secret" not in broken.get_data(as_text=True)
    app.config["METRICS_TOKEN"] = "t0ken"
    operator = client.get("/readyz", environ_base=outside, headers={"Authorization": "Bearer t0ken"}).get_json()
    assert operator["workers"][0]["name"] == "gpu-host" and "/srv/secret" in operator["checks"]["storage"]
    assert client.get("/readyz").get_json()["workers"] == []  # loopback without the token, once a token is set
