"""The playground submits through the API's one path, in the API's order: 401 → 429 → 422 → 402 → pixels."""
from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image, ImageFile

from conftest import image_bytes


def flat_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def decodes(monkeypatch):
    """The pixel decodes started while the test runs (Pillow, OpenCV, zlib on PNG data)."""
    import cv2

    calls = []

    def spy(name, original):
        def spied(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)
        return spied

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy("pillow", ImageFile.ImageFile.load))
    monkeypatch.setattr(cv2, "imdecode", spy("opencv", cv2.imdecode))
    monkeypatch.setattr(zlib, "decompressobj", spy("zlib", zlib.decompressobj))
    return calls


def test_the_rate_limit_comes_before_validation(app, make_user):
    from ui import runner

    app.config["PLAN_LIMITS"] = {"free": {"rpm": 1}}
    user_id = make_user(plan="free", credits=5).id
    with pytest.raises(runner.RunFailed) as first:
        runner.submit(app, user_id, "upscale", {"scale": "3"}, image_bytes(), None)
    assert first.value.status == 422
    with pytest.raises(runner.RunFailed) as second:  # the minute's one run is spent: 429, not another 422
        runner.submit(app, user_id, "upscale", {"scale": "3"}, image_bytes(), None)
    assert second.value.status == 429


def test_a_zero_credit_run_is_402_before_any_pixel_is_decoded(app, make_user, decodes):
    from ui import runner

    user_id = make_user(plan="free", credits=0).id
    with pytest.raises(runner.RunFailed) as refused:
        runner.submit(app, user_id, "erase-object", {}, flat_png(2000, 1500), flat_png(2000, 1500))
    assert refused.value.status == 402
    assert decodes == []


def test_a_corrupt_image_with_credits_is_422_and_free(app, make_user):
    from ui import runner

    from pixelforge.extensions import db
    from pixelforge.models import Job, User

    user_id = make_user(plan="free", credits=5).id
    whole = image_bytes(64, 64, fmt="WEBP", lossless=True)
    with pytest.raises(runner.RunFailed) as refused:
        runner.submit(app, user_id, "enhance", {}, whole[: len(whole) * 2 // 3], None)
    assert refused.value.status == 422
    assert db.session.get(User, user_id, populate_existing=True).credits == 5
    assert db.session.scalar(db.select(db.func.count(Job.id))) == 0
