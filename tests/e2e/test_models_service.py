"""Model engines through the real service: `pixelforge models add` and the next job runs the model."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
import requests
from PIL import Image

import real_weights
from model_factories import write_rrdbnet, write_tiny_sd_inpainting, write_u2net_like_onnx
from service import LiveService

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    env = {"PIXELFORGE_WORKER_HEARTBEAT_SECONDS": "1"}
    with LiveService(tmp_path_factory.mktemp("models") / "instance", env=env) as live:
        yield live


def add_model(service, name: str, path) -> None:
    """`pixelforge models add`, then wait until the worker says it serves the model (within a heartbeat)."""
    service.cli("models", "add", name, str(path), "--allow-unverified")

    def served():
        workers = requests.get(service.base + "/readyz", timeout=5).json()["workers"]
        return any(name in worker["models"] for worker in workers)

    deadline = time.monotonic() + 240  # warmed first (numba compiles pymatting on a fresh instance)
    while not served():
        assert time.monotonic() < deadline, f"no worker lists {name} 240 s after it was added"
        time.sleep(0.2)


def png(width=24, height=16, mode="RGB") -> bytes:
    rng = np.random.default_rng(0)
    channels = 4 if mode == "RGBA" else 3
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, channels), dtype=np.uint8), mode).save(buffer, "PNG")
    return buffer.getvalue()


def mask_png(width=24, height=16) -> bytes:
    array = np.zeros((height, width), np.uint8)
    array[4:12, 6:18] = 255
    buffer = io.BytesIO()
    Image.fromarray(array, "L").save(buffer, "PNG")
    return buffer.getvalue()


def run_job(service, headers, operation, files, data=None, timeout=120):
    response = requests.post(f"{service.base}/api/v1/{operation}", headers=headers, files=files, data=data or {})
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{service.base}/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job did not finish:\n{service.log()[-3000:]}")


def test_models_list_on_a_fresh_instance(service):
    out = service.cli("models", "list").stdout
    for name in ("realesrgan-x4plus", "realesrgan-x2plus", "realesr-general-x4v3", "gfpgan-1.4",
                 "rembg-isnet-general-use", "rembg-u2net", "lama", "sd-inpainting"):
        assert name in out
    assert "missing" in out


def test_added_upscaler_serves_the_next_job_without_restart(service, tmp_path):
    key = service.user_with_key("upscale@example.com", credits=20)
    headers = {"Authorization": f"Bearer {key}"}
    before = run_job(service, headers, "upscale", {"image": ("a.png", png())}, {"scale": "4"})
    assert before["engine"] == "classical"

    weights = write_rrdbnet(tmp_path / "RealESRGAN_x4plus.pth", scale=4)
    add_model(service, "realesrgan-x4plus", str(weights))
    after = run_job(service, headers, "upscale", {"image": ("a.png", png(mode="RGBA"), "image/png")},
                    {"scale": "4"})
    assert after["status"] == "done", after
    assert after["engine"] == "model" and after["model"] == "realesrgan-x4plus"
    result = Image.open(io.BytesIO(requests.get(after["result_url"], headers=headers).content))
    assert result.size == (96, 64) and result.mode == "RGBA"


def test_a_safetensors_upscaler_added_over_the_pth_serves_the_next_job(service, tmp_path):
    key = service.user_with_key("safetensors@example.com", credits=20)
    headers = {"Authorization": f"Bearer {key}"}
    service.cli("models", "add", "realesrgan-x4plus", str(write_rrdbnet(tmp_path / "x4.pth", scale=4)),
                "--allow-unverified")
    community = write_rrdbnet(tmp_path / "4x-community.safetensors", scale=4, seed=1)
    add_model(service, "realesrgan-x4plus", str(community))
    assert "ok (custom, unverified)" in service.cli("models", "verify", "realesrgan-x4plus").stdout
    job = run_job(service, headers, "upscale", {"image": ("a.png", png())}, {"scale": "4"})
    assert job["status"] == "done", job
    assert job["engine"] == "model" and job["model"] == "realesrgan-x4plus"
    result = Image.open(io.BytesIO(requests.get(job["result_url"], headers=headers).content))
    assert result.size == (96, 64)


def test_inpaint_runs_once_a_pipeline_is_installed(service, tmp_path):
    key = service.user_with_key("inpaint@example.com", credits=20)
    headers = {"Authorization": f"Bearer {key}"}
    files = {"image": ("a.png", png(64, 64)), "mask": ("m.png", mask_png(64, 64))}
    refused = requests.post(f"{service.base}/api/v1/inpaint", headers=headers, files=files)
    assert refused.status_code == 503 and "models pull sd-inpainting" in refused.text

    folder = write_tiny_sd_inpainting(tmp_path / "sd")
    add_model(service, "sd-inpainting", str(folder))
    job = run_job(service, headers, "inpaint", files, {"prompt": "a red ball", "steps": "4", "strength": "0.5",
                                                       "seed": "1234"})
    assert job["status"] == "done", job
    assert job["engine"] == "model" and job["model"] == "sd-inpainting"
    assert job["result"]["seed"] == 1234 and job["result"]["effective_steps"] == 2
    account = requests.get(f"{service.base}/api/v1/account", headers=headers).json()
    assert account["credits"] == 18


def test_rembg_model_serves_background_removal(service, tmp_path):
    key = service.user_with_key("rembg@example.com", credits=5)
    headers = {"Authorization": f"Bearer {key}"}
    onnx_file = write_u2net_like_onnx(tmp_path / "u2net.onnx")
    add_model(service, "rembg-u2net", str(onnx_file))
    job = run_job(service, headers, "remove-background", {"image": ("a.png", png())}, timeout=240)
    assert job["status"] == "done", job
    assert job["engine"] == "model" and job["model"] == "rembg-u2net"


def test_real_u2net_is_warmed_at_start_and_gives_rembgs_own_alpha(tmp_path):
    """#18: with the real U^2-Net installed, the worker loads it before its first job, and a job through the live
    service gives the alpha the rembg library gives with the same file (the helmet and the neck kept)."""
    from skimage import data

    weights, why = real_weights.fetched_file("rembg-u2net")
    if weights is None:
        pytest.skip(why)
    instance = tmp_path / "instance"
    real_weights.install(weights, "rembg-u2net", instance / "models")
    # pymatting's numba functions are compiled once per host for the tests (a fresh instance would compile again).
    env = {"NUMBA_CACHE_DIR": str(real_weights.cache_dir().parent / "numba")}
    with LiveService(instance, env=env) as live:
        log = live.wait_for_log("worker warm in", timeout=600)
        assert "rembg-u2net (remove-background)" in log and "FAILED" not in log
        key = live.user_with_key("real-u2net@example.com", credits=5)
        headers = {"Authorization": f"Bearer {key}"}
        astronaut = Image.fromarray(data.astronaut())
        buffer = io.BytesIO()
        astronaut.save(buffer, "PNG")
        job = run_job(live, headers, "remove-background", {"image": ("astronaut.png", buffer.getvalue())})
        assert job["status"] == "done", job
        assert (job["engine"], job["model"]) == ("model", "rembg-u2net")
        result = Image.open(io.BytesIO(requests.get(job["result_url"], headers=headers).content))
    alpha = np.asarray(result.getchannel("A"))
    assert np.array_equal(alpha, real_weights.rembg_alpha(weights, astronaut))
    assert alpha[440:500, 250:330].mean() > 200 and alpha[185:215, 200:250].mean() > 200  # helmet, neck
