"""The job lifecycle through a real RQ worker: status, listing, download, failures and refunds."""
from datetime import datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from conftest import image_bytes, mask_bytes


def submit_and_run(api, work_queue, operation="enhance", image=None, **fields):
    job_id = api.submit(operation, image or image_bytes(), **fields).get_json()["job_id"]
    work_queue()
    return api.get(f"/jobs/{job_id}").get_json()


def test_done_job_has_timestamps_engine_and_result_url(api, work_queue):
    job = submit_and_run(api, work_queue)
    assert job["status"] == "done" and job["progress"] == 1.0
    assert job["engine"] == "classical" and job["model"] is None
    assert job["operation"] == "enhance" and job["error"] is None
    created, started, finished = (datetime.fromisoformat(job[k].replace("Z", "+00:00"))
                                  for k in ("created_at", "started_at", "finished_at"))
    assert created <= started <= finished
    assert len(job["created_at"].split(".")[1]) == 7  # six digits of microseconds and the Z
    assert job["result_url"] == f"http://pixelforge.test/api/v1/jobs/{job['job_id']}/download"
    assert job["result"]["content_type"] == "image/png"


@pytest.mark.parametrize("operation, fields, mask, size, mode, content_type", [
    ("upscale", {"scale": 2}, None, (64, 48), "RGB", "image/png"),
    ("upscale", {"scale": 4}, None, (128, 96), "RGB", "image/png"),
    ("remove-background", {}, None, (32, 24), "RGBA", "image/png"),
    ("remove-background", {"format": "webp"}, None, (32, 24), None, "image/webp"),  # opaque: WebP drops alpha
    ("enhance", {}, None, (32, 24), "RGB", "image/png"),
    ("erase-object", {}, mask_bytes(), (32, 24), "RGB", "image/png"),
])
def test_each_operation_produces_its_result(api, work_queue, operation, fields, mask, size, mode, content_type):
    import io

    response = api.submit(operation, image_bytes(), mask, **fields)
    job_id = response.get_json()["job_id"]
    work_queue()
    job = api.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "done", job
    download = api.get(f"/jobs/{job_id}/download")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == content_type
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Disposition" not in download.headers
    result = Image.open(io.BytesIO(download.data))
    assert result.size == size and mode in (None, result.mode)


def photo_png(array) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def astronaut_face(side: int = 160) -> bytes:
    """The astronaut's face from scikit-image, which the face detectors find."""
    import cv2
    from skimage import data

    return photo_png(cv2.resize(data.astronaut()[0:256, 80:336], (side, side), interpolation=cv2.INTER_AREA))


def coffee() -> bytes:
    """scikit-image's cup of coffee: no face."""
    import cv2
    from skimage import data

    return photo_png(cv2.resize(data.coffee(), (240, 160), interpolation=cv2.INTER_AREA))


def test_restore_face_restores_a_photo_with_a_face(api, work_queue):
    job = submit_and_run(api, work_queue, "restore-face", astronaut_face(), fidelity=0.5)
    assert job["status"] == "done", job
    assert job["result"]["faces_detected"] >= 1 and job["result"]["restored"] == "faces"
    assert api.get(f"/jobs/{job['job_id']}/download").status_code == 200
    assert api.user.credits == 9


def assert_refused_for_no_face(api, job):
    """Failed with no_face_found, refunded exactly once, the ledger balanced, nothing to download."""
    from pixelforge.credits import ledger, ledger_total

    assert job["status"] == "failed" and job["refunded"] is True, job
    assert job["error"]["code"] == "no_face_found" and "no face" in job["error"]["message"]
    assert api.user.credits == 10 and ledger_total(api.user_id) == 10
    reasons = [entry.reason for entry in ledger(api.user_id) if entry.job_id == job["job_id"]]
    assert sorted(reasons) == ["charge", "refund"]
    assert api.get(f"/jobs/{job['job_id']}/download").status_code == 502


def test_restore_face_on_a_photo_without_a_face_fails_and_costs_nothing(api, work_queue):
    """#12 finding 14, classical engine: a faceless photo is refused and refunded, not charged as whole_image."""
    assert_refused_for_no_face(api, submit_and_run(api, work_queue, "restore-face", coffee()))


def test_restore_face_model_engine_refuses_a_photo_without_a_face(app, api, work_queue, tmp_path):
    """#12 finding 14, model engine (YuNet + GFPGAN): the detector finds nothing, the job fails and is refunded."""
    import model_factories as mf
    from workers import inference
    from pixelforge.model_registry import weights_file

    models = tmp_path / "models"
    mf.write_yunet_like_onnx(weights_file("yunet-2023mar", models))
    (models / "gfpgan-1.4").mkdir()
    (models / "gfpgan-1.4" / "GFPGANv1.4.pth").write_bytes(b"never loaded: no face, no restoration")
    app.config["MODELS_DIR"] = str(models)
    inference.clear_model_cache()
    try:
        dark = photo_png(np.full((120, 160, 3), 30, np.uint8))
        assert_refused_for_no_face(api, submit_and_run(api, work_queue, "restore-face", dark))
    finally:
        inference.clear_model_cache()


def test_download_as_attachment(api, work_queue):
    job = submit_and_run(api, work_queue)
    response = api.get(f"/jobs/{job['job_id']}/download?download=true")
    assert response.headers["Content-Disposition"] == f'attachment; filename="pixelforge-{job["job_id"]}.png"'


def test_result_keeps_no_metadata(api, work_queue):
    import io

    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS
    job = submit_and_run(api, work_queue, image=image_bytes(fmt="JPEG", exif=exif.tobytes()))
    result = Image.open(io.BytesIO(api.get(f"/jobs/{job['job_id']}/download").data))
    assert not result.getexif() and "exif" not in result.info


def test_exif_orientation_is_applied(api, work_queue):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    job = submit_and_run(api, work_queue, image=image_bytes(32, 24, fmt="JPEG", exif=exif.tobytes()))
    assert (job["result"]["width"], job["result"]["height"]) == (24, 32)


def test_download_before_done_is_409(api):
    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    response = api.get(f"/jobs/{job_id}/download")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "job_not_finished"


def test_other_users_job_is_404_everywhere(api, work_queue, make_user, api_for):
    job = submit_and_run(api, work_queue)
    other = api_for(make_user())
    for path in (f"/jobs/{job['job_id']}", f"/jobs/{job['job_id']}/download"):
        response = other.get(path)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "job_not_found"
    assert other.get("/jobs").get_json()["jobs"] == []


def test_unknown_job_is_404(api):
    assert api.get("/jobs/does-not-exist").status_code == 404
    assert api.get("/jobs/" + "x" * 500).status_code == 404


def test_list_is_newest_first_with_cursor(api, make_user, api_for):
    rich = api_for(make_user(credits=100))
    ids = [rich.submit("enhance", image_bytes(seed=i)).get_json()["job_id"] for i in range(5)]
    first = rich.get("/jobs?limit=2").get_json()
    assert [j["job_id"] for j in first["jobs"]] == ids[::-1][:2]
    second = rich.get(f"/jobs?limit=2&cursor={first['next_cursor']}").get_json()
    third = rich.get(f"/jobs?limit=2&cursor={second['next_cursor']}").get_json()
    assert [j["job_id"] for j in second["jobs"] + third["jobs"]] == ids[::-1][2:]
    assert third["next_cursor"] is None
    assert rich.get("/jobs?limit=0").status_code == 422
    assert rich.get("/jobs?cursor=garbage!").status_code == 422


def test_engine_failure_fails_the_job_and_refunds_once(api, work_queue, monkeypatch):
    from workers.engines import base

    def broken(inp):
        raise base.EngineError("the engine could not handle this image")

    monkeypatch.setattr("workers.engines.enhance.classical_enhance", broken)
    job = submit_and_run(api, work_queue)
    assert job["status"] == "failed" and job["refunded"] is True
    assert job["error"]["code"] == "inference_error"
    assert "could not handle" in job["error"]["message"]
    assert api.user.credits == 10
    response = api.get(f"/jobs/{job['job_id']}/download")
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "inference_error"


def test_engine_crash_fails_the_job_and_refunds(api, work_queue, monkeypatch):
    monkeypatch.setattr("workers.engines.enhance.classical_enhance", lambda inp: 1 / 0)
    job = submit_and_run(api, work_queue)
    assert job["status"] == "failed" and job["error"]["code"] == "internal_error"
    assert api.user.credits == 10


def test_job_timeout_fails_and_refunds(app, api, work_queue, monkeypatch):
    import time

    app.config["JOB_TIMEOUTS"] = {**app.config["JOB_TIMEOUTS"], "enhance": 1}
    monkeypatch.setattr("workers.engines.enhance.classical_enhance", lambda inp: time.sleep(5))
    job = submit_and_run(api, work_queue)
    assert job["status"] == "failed" and job["error"]["code"] == "timeout"
    assert api.user.credits == 10


@pytest.mark.parametrize("device_kind, model_installed, status", [
    ("cuda", True, "failed"),  # a model on the GPU: the GPU's (here 1 s) limit
    ("cuda", False, "done"),  # the classical engine runs at CPU speed on any host: the CPU limit
    ("cpu", True, "done"),
])
def test_the_time_limit_is_sized_for_how_the_job_runs(app, api, monkeypatch, device_kind, model_installed,
                                                      status):
    import time
    from pathlib import Path

    from rq import Queue

    from pixelforge.queue import get_redis
    from workers import device, inference
    from workers.worker import device_sized_worker_class

    app.config["GPU_JOB_TIMEOUTS"] = {**app.config["GPU_JOB_TIMEOUTS"], "enhance": 1}
    monkeypatch.setattr(device, "device_name", lambda: device_kind)
    if model_installed:  # present on disk; the run itself is a stand-in that takes 1.5 s
        weights = Path(app.config["MODELS_DIR"]) / "realesrgan-x2plus" / "RealESRGAN_x2plus.pth"
        weights.parent.mkdir(parents=True)
        weights.write_bytes(b"stand-in")
    monkeypatch.setattr(inference, "run_model_engine", lambda *args: time.sleep(1.5))  # then classical serves
    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    redis = get_redis()
    device_sized_worker_class()([Queue(app.config["QUEUE_NAME"], connection=redis)], connection=redis).work(
        burst=True, logging_level="WARNING")
    job = api.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == status
    if status == "failed":
        assert job["error"]["code"] == "timeout" and "1 s" in job["error"]["message"] and job["refunded"]


@pytest.mark.parametrize("installed, size, precision, expected", [
    (None, (4000, 3000), "float32", 600),  # the classical engine: the operation's limit
    ("realesr-general-x4v3", (1000, 1000), "float32", 600),  # 20 s/MP × 1 MP × 3 is under it
    ("realesrgan-x4plus", (1000, 1000), "float32", 960),  # 320 s/MP × 1 MP × 3
    ("realesrgan-x4plus", (2000, 1500), "float32", 2880),
    ("realesrgan-x4plus", (1000, 1000), "bfloat16", 600),  # 180 s/MP × 1 MP × 3 is under it
    ("realesrgan-x4plus", (2000, 1500), "bfloat16", 1620),  # 180 s/MP × 3 MP × 3: the bf16 figures
])
def test_a_cpu_upscaler_gets_time_in_proportion_to_the_pixels(app, api, monkeypatch, installed, size, precision,
                                                              expected):
    from pathlib import Path

    from pixelforge.extensions import db
    from pixelforge.models import Job
    from pixelforge.model_registry import REGISTRY
    from pixelforge.queue import job_timeout
    from workers import cpu_precision, device
    from workers.worker import time_limit

    monkeypatch.setattr(device, "device_name", lambda: "cpu")
    monkeypatch.setattr(cpu_precision, "_configured", precision)  # as the worker sets CPU_PRECISION
    if installed:
        entry = REGISTRY.get(installed)
        weights = Path(app.config["MODELS_DIR"]) / entry.name / entry.files[0].path
        weights.parent.mkdir(parents=True)
        weights.write_bytes(b"stand-in")
    job_id = api.submit("upscale", image_bytes(), scale="4").get_json()["job_id"]
    job = db.session.get(Job, job_id)
    job.input_width, job.input_height = size  # as if the upload had been that large
    db.session.commit()
    assert job_timeout("upscale") == 600  # the spec's CPU limit (no JOB_TIMEOUTS override)
    assert time_limit(job_id, "upscale") == expected  # a job queued without the facts: read from the database
    facts = {"params": {"scale": 4}, "pixels": size[0] * size[1]}  # what the queue entry carries now
    assert time_limit("not-in-the-database", "upscale", facts) == expected  # no database read needed


def test_the_queue_entry_carries_what_sizes_the_time_limit(app, api):
    from rq import Queue

    from pixelforge.queue import get_redis

    job_id = api.submit("upscale", image_bytes(), scale="2").get_json()["job_id"]
    entry = Queue(app.config["QUEUE_NAME"], connection=get_redis()).fetch_job(job_id)
    assert entry.meta == {"operation": "upscale", "params": {"scale": 2, "output_format": "png", "output_quality": None},
                          "pixels": 32 * 24}


def test_abandoned_processing_job_is_reaped_on_read(app, api):
    from pixelforge.extensions import db
    from pixelforge.models import Job, utcnow

    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    job = db.session.get(Job, job_id)
    job.status, job.started_at = "processing", utcnow() - timedelta(minutes=5)
    job.heartbeat_at = utcnow() - timedelta(seconds=app.config["WORKER_LOST_AFTER_SECONDS"] + 1)
    db.session.commit()
    body = api.get(f"/jobs/{job_id}").get_json()
    assert body["status"] == "failed" and body["error"]["code"] == "worker_lost" and body["refunded"]
    assert api.user.credits == 10


def test_reaper_expires_jobs_queued_too_long(app, api):
    from pixelforge.credits import ledger_total
    from pixelforge.extensions import db
    from pixelforge.upkeep import reap_jobs
    from pixelforge.models import Job, utcnow

    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    db.session.get(Job, job_id).created_at = utcnow() - timedelta(seconds=app.config["QUEUED_EXPIRE_SECONDS"] + 5)
    db.session.commit()
    assert reap_jobs() == 1
    assert reap_jobs() == 0  # refunded once only
    assert db.session.get(Job, job_id).error_code == "queue_timeout"
    assert api.user.credits == 10 == ledger_total(api.user_id)


def test_a_reaped_job_is_not_run_later(api, work_queue):
    from pixelforge import lifecycle

    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    assert lifecycle.expire(job_id)
    work_queue()
    job = api.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "failed" and job["started_at"] is None
    assert api.user.credits == 10


def test_account(api):
    body = api.get("/account").get_json()
    assert body == {"email": body["email"], "plan": "pro", "credits": 10, "api_access": True,
                    "rate_limits": {"submissions_per_minute": 60, "reads_per_minute": 600}}


def test_sixteen_bit_png_upscales_to_a_sixteen_bit_png(api, work_queue):
    import cv2
    import numpy as np

    y, x = np.mgrid[0:24, 0:32]
    deep = np.dstack([x * 2000 + 7, y * 2500 + 3, (x + y) * 1000 + 1]).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", deep)
    job = submit_and_run(api, work_queue, "upscale", image=encoded.tobytes(), scale=2)
    assert job["status"] == "done" and job["result"]["bit_depth"] == 16
    result = cv2.imdecode(np.frombuffer(api.get(f"/jobs/{job['job_id']}/download").data, np.uint8),
                          cv2.IMREAD_UNCHANGED)
    assert result.dtype == np.uint16 and result.shape == (48, 64, 3)
    assert np.any(result % 257 != 0)
