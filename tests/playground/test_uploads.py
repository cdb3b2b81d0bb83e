"""Finding 6 of issue 12: playground uploads obey the API's size and format rules and a per-user quota, and are
deleted a short time after their last use (their upload, or the run that read them). Over HTTP, against `pixelforge
serve`.
"""
from __future__ import annotations

import io
import os
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image

from gradio_session import PlaygroundUser, file_data
from service import LiveService

pytestmark = pytest.mark.e2e

QUOTA_FILES = 3
TTL_SECONDS = 6
QUOTA_BYTES = 256 * 1024


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    env = {"PIXELFORGE_SIGNUP_CREDITS": "0", "PIXELFORGE_PLAYGROUND_UPLOAD_QUOTA_FILES": str(QUOTA_FILES),
           "PIXELFORGE_PLAYGROUND_UPLOAD_TTL_SECONDS": str(TTL_SECONDS),
           "PIXELFORGE_PLAYGROUND_UPLOAD_QUOTA_BYTES": str(QUOTA_BYTES)}
    with LiveService(tmp_path_factory.mktemp("playground-uploads") / "instance", env=env) as live:
        yield live


def new_user(service, credits: int = 0) -> PlaygroundUser:
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    user = PlaygroundUser(service.base).sign_up(email)
    if credits:
        service.cli("users", "add-credits", email, str(credits))
    return user


def picture(seed: int = 0, size=(64, 48)) -> bytes:
    image = Image.new("RGB", size, (seed % 256, 90, 160))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def noise_png(at_least: int) -> bytes:
    """A valid PNG that does not compress: at least this many bytes."""
    side = int((at_least / 3) ** 0.5) + 8
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def stored_bytes(service) -> int:
    return sum(p.stat().st_size for p in (service.instance / "gradio").rglob("*") if p.is_file())


def test_random_bytes_are_refused_and_not_kept(service):
    user = new_user(service)  # 0 credits: uploads cost nothing, so they must be bounded some other way
    before = stored_bytes(service)
    for _ in range(8):
        response = user.upload("noise.png", os.urandom(20 * 1024 * 1024))
        assert response.status_code == 422 and "PNG, JPEG or WebP" in response.text
    assert stored_bytes(service) - before < 1024 * 1024


@pytest.mark.parametrize("name, data, status", [
    ("page.html", b"<html><script>alert(1)</script></html>", 422),
    ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', 422),
    ("empty.png", b"", 422),
    ("huge.png", b"\x89PNG\r\n\x1a\n" + bytes(26 * 1024 * 1024), 413),  # over MAX_UPLOAD_BYTES
])
def test_uploads_follow_the_apis_rules(service, name, data, status):
    response = new_user(service).upload(name, data)
    assert response.status_code == status
    assert str(service.instance) not in response.text


def test_a_header_bomb_is_refused_from_its_header(service):
    bomb = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(bomb, format="PNG")  # 100 MP, a few KB
    response = new_user(service).upload("bomb.png", bomb.getvalue())
    assert response.status_code == 422 and "pixels" in response.text


def test_each_user_keeps_at_most_the_quota(service):
    user, other = new_user(service), new_user(service)
    paths = []
    for seed in range(QUOTA_FILES + 2):  # the oldest make room: the mask editor uploads on every stroke
        response = user.upload(f"photo{seed}.png", picture(seed))
        assert response.status_code == 200
        paths += response.json()
        assert len(list(Path(paths[0]).parent.iterdir())) <= QUOTA_FILES
    assert [os.path.exists(p) for p in paths] == [False, False] + [True] * QUOTA_FILES
    assert user.fetch(paths[0]).status_code == 404 and user.fetch(paths[-1]).status_code == 200
    assert user.upload("again.png", picture(QUOTA_FILES + 1)).json() == paths[-1:]  # the same bytes: kept once

    too_big = user.upload("noise.png", noise_png(QUOTA_BYTES + 1))
    assert too_big.status_code == 429 and str(service.instance) not in too_big.text
    assert other.upload("photo.png", picture(0)).status_code == 200  # the quota is per user


def test_unused_uploads_expire(service):
    user = new_user(service)
    [path] = user.upload("photo.png", picture(42)).json()
    deadline = time.monotonic() + TTL_SECONDS * 5
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not os.path.exists(path)
    assert user.fetch(path).status_code == 404


def test_an_upload_can_run_again_and_then_expires(service):
    user = new_user(service, credits=3)
    [path] = user.upload("photo.png", picture(7)).json()
    for _ in range(2):  # the page still holds the path: running the same picture again works
        joined, outcome = user.run("enhance-run", file_data(path))
        assert joined.status_code == 200 and outcome.success, outcome.error
    deadline = time.monotonic() + TTL_SECONDS * 5
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not os.path.exists(path)  # unused for its time to live: deleted
    again, _ = user.run("enhance-run", file_data(path))
    assert again.status_code == 422 and "upload" in again.json()["detail"].lower()
