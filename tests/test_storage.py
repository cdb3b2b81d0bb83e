"""A full disk (#12 finding 5): partial writes are removed, a submission that cannot be stored is 507 and free,
a result that cannot be stored fails and refunds its job, and /readyz says storage cannot take writes.

The real cases run on a 5 MB tmpfs mounted for the test (root only; skipped with the reason otherwise); one
unit test simulates ENOSPC so the clean-up is checked everywhere.
"""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from conftest import image_bytes
from pixelforge.storage import StorageError, StorageFull
from pixelforge.storage.local import LocalStorage

DISK_BYTES = 5 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path):
    """A 5 MB tmpfs: a disk that really fills up."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a 5 MB tmpfs here (needs root): {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill(disk: Path, leave: int) -> Path:
    """Take all but about `leave` bytes of the disk with one file (deleted to make room again)."""
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(free_bytes(disk) - leave, 0))
    return filler


def every_file(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def noisy_png(side: int) -> bytes:
    """A PNG of about 3 × side² bytes (noise does not compress)."""
    return image_bytes(side, side, seed=side)


# --- the storage itself ----------------------------------------------------------------------------------------

def test_a_write_the_disk_cannot_hold_leaves_nothing_behind(small_disk):
    storage = LocalStorage(small_disk)
    with pytest.raises(StorageFull):
        storage.put("jobs/ab/big/input", os.urandom(DISK_BYTES + 1024 * 1024))
    assert every_file(small_disk) == []  # no .tmp-* left to keep the disk full
    storage.put("jobs/ab/small/input", b"x" * 1024 * 1024)  # so the next one fits
    assert storage.get("jobs/ab/small/input") == b"x" * 1024 * 1024


def test_a_failed_write_removes_its_temp_file_wherever_it_fails(tmp_path, monkeypatch):
    """ENOSPC halfway through a write, simulated: the partial temp file is removed and the error is named."""
    real_fdopen = os.fdopen

    class HalfWritten:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("pixelforge.storage.local.os.fdopen", lambda fd, mode: HalfWritten(real_fdopen(fd, mode)))
    storage = LocalStorage(tmp_path)
    with pytest.raises(StorageFull) as raised:
        storage.put("jobs/ab/x/input", b"y" * 100_000)
    assert str(tmp_path) not in str(raised.value)  # no server path in what a client may be shown
    assert every_file(tmp_path) == []


def test_other_write_errors_stay_storage_errors(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("pixelforge.storage.local.os.replace", read_only)
    with pytest.raises(StorageError) as raised:
        LocalStorage(tmp_path).put("a/b", b"data")
    assert not isinstance(raised.value, StorageFull)
    assert every_file(tmp_path) == []


# --- through the API, the worker and /readyz -------------------------------------------------------------------

@pytest.fixture
def storage_on(app):
    """Point the app's storage at a folder (the storage object is made on first use)."""

    def point(folder: Path) -> None:
        app.config["STORAGE_DIR"] = str(folder)
        app.config["STORAGE_URL"] = folder.absolute().as_uri()
        app.extensions.pop("pixelforge.storage", None)

    return point


def test_a_submission_the_disk_cannot_hold_is_507_and_costs_nothing(api, small_disk, storage_on):
    from pixelforge.credits import ledger_total
    from pixelforge.extensions import db
    from pixelforge.models import Job

    storage_on(small_disk)
    filler = fill(small_disk, leave=512 * 1024)
    response = api.submit("enhance", noisy_png(700))  # ~1.5 MB
    assert response.status_code == 507, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_storage"
    assert str(small_disk) not in error["message"]
    assert api.user.credits == 10 and ledger_total(api.user_id) == 10
    assert db.session.scalar(db.select(db.func.count()).select_from(Job)) == 0
    assert every_file(small_disk) == ["filler"]  # the partial input is gone
    filler.unlink()
    assert api.submit("enhance", noisy_png(700)).status_code == 202  # room again: accepted


def test_a_result_the_disk_cannot_hold_fails_and_refunds_the_job_once(api, work_queue, small_disk, storage_on):
    from pixelforge.credits import ledger_total

    storage_on(small_disk)
    job_id = api.submit("enhance", noisy_png(700)).get_json()["job_id"]
    fill(small_disk, leave=256 * 1024)  # the input is stored; the result will not fit
    work_queue()
    job = api.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "failed" and job["refunded"] is True
    assert job["error"]["code"] == "storage_full"
    assert api.user.credits == 10 and ledger_total(api.user_id) == 10
    assert not [name for name in every_file(small_disk) if ".tmp-" in name]


def test_readyz_reports_storage_that_cannot_take_writes(app, client, small_disk, storage_on):
    storage_on(small_disk)
    app.config["STORAGE_MIN_FREE_BYTES"] = 1024 * 1024
    assert client.get("/readyz").get_json()["checks"]["storage"] == "ok"
    fill(small_disk, leave=256 * 1024)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["status"] == "not_ready"
    assert response.get_json()["checks"]["storage"].startswith("error")
    assert str(small_disk) not in response.get_data(as_text=True)


def test_readyz_reports_storage_it_cannot_write_at_all(app, client, tmp_path, storage_on, monkeypatch):
    storage_on(tmp_path / "storage")
    app.config["STORAGE_MIN_FREE_BYTES"] = 0

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("pixelforge.storage.local.os.replace", read_only)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["storage"].startswith("error")


def test_a_mask_that_cannot_be_stored_takes_the_stored_input_with_it(api, app, storage_on, tmp_path, monkeypatch):
    """Simulated ENOSPC on the second object of a submission (no root needed): 507, free, no orphaned input."""
    from conftest import mask_bytes

    storage_on(tmp_path / "storage")
    real_put = LocalStorage.put

    def put(self, key, data):
        if key.endswith("/mask"):
            raise StorageFull(f"storage is full (No space left on device); could not store {key}")
        real_put(self, key, data)

    monkeypatch.setattr(LocalStorage, "put", put)
    response = api.submit("erase-object", image_bytes(), mask_bytes())
    assert response.status_code == 507 and response.get_json()["error"]["code"] == "insufficient_storage"
    assert response.headers["Retry-After"]
    assert api.user.credits == 10
    assert every_file(tmp_path / "storage") == []


def test_the_playground_words_a_full_disk_for_a_person():
    from ui.runner import _failure

    failure = _failure(StorageFull("storage is full"))
    assert failure.status == 507 and "nothing was charged" in failure.message
