"""#12 finding 4: refusals cost no decode, and the web process decodes within one bounded pixel budget.

A 1.5 KB lossless WebP of 6300×6300 (under MAX_INPUT_PIXELS) used to be decoded in full (~600 MB) before the
credit check; 12 in parallel with a 0-credit key took the web process to 7.6 GB.
"""
from __future__ import annotations

import io
import threading
import time
import zlib

import pytest
from PIL import Image, ImageFile

from conftest import image_bytes

BIG = 6300  # 39.7 MP: under the 40 MP input limit


def lossless_webp(width: int, height: int, colour=(200, 30, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="WEBP", lossless=True)
    return buffer.getvalue()


def flat_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def big_webp() -> bytes:
    data = lossless_webp(BIG, BIG)
    assert len(data) < 2000  # the attack's upload: about 1.5 KB
    return data


class DecodeSpy:
    """Every pixel decode started in this process: Pillow's load, OpenCV's imdecode, zlib inflating PNG data."""

    def __init__(self, hold_seconds: float = 0.0):
        self.calls: list[str] = []
        self.active = self.most_at_once = 0
        self.hold_seconds = hold_seconds
        self._lock = threading.Lock()

    def wrap(self, name, original):
        def spied(*args, **kwargs):
            with self._lock:
                self.calls.append(name)
                self.active += 1
                self.most_at_once = max(self.most_at_once, self.active)
            try:
                time.sleep(self.hold_seconds)  # widen the window in which parallel decodes would overlap
                return original(*args, **kwargs)
            finally:
                with self._lock:
                    self.active -= 1
        return spied


@pytest.fixture
def decode_spy(monkeypatch):
    import cv2

    spy = DecodeSpy()
    monkeypatch.setattr(ImageFile.ImageFile, "load", spy.wrap("pillow", ImageFile.ImageFile.load))
    monkeypatch.setattr(cv2, "imdecode", spy.wrap("opencv", cv2.imdecode))
    monkeypatch.setattr(zlib, "decompressobj", spy.wrap("zlib", zlib.decompressobj))
    return spy


def balance(user_id: int) -> int:
    from pixelforge.extensions import db
    from pixelforge.models import User

    return db.session.get(User, user_id, populate_existing=True).credits


@pytest.mark.parametrize("fmt", ["webp", "png"])
def test_a_zero_credit_submission_is_402_before_any_pixel_is_decoded(make_user, api_for, decode_spy, big_webp,
                                                                     fmt):
    caller = api_for(make_user(credits=0))
    upload = big_webp if fmt == "webp" else flat_png(2000, 2000)
    response = caller.submit("enhance", upload)
    assert response.status_code == 402, response.get_json()
    assert response.get_json()["error"]["code"] == "insufficient_credits"
    assert decode_spy.calls == []


def test_a_zero_credit_mask_is_not_decoded_either(make_user, api_for, decode_spy):
    caller = api_for(make_user(credits=0))
    response = caller.submit("erase-object", flat_png(2000, 1500), flat_png(2000, 1500))
    assert response.status_code == 402 and decode_spy.calls == []


def test_header_problems_still_come_before_402(make_user, api_for, decode_spy):
    caller = api_for(make_user(credits=0))
    response = caller.submit("upscale", flat_png(64, 48), scale=3)
    assert response.status_code == 422 and decode_spy.calls == []
    mismatch = caller.submit("erase-object", flat_png(64, 48), flat_png(32, 24))
    assert mismatch.status_code == 422 and mismatch.get_json()["error"]["code"] == "mask_size_mismatch"
    assert decode_spy.calls == []


def test_with_credits_the_pixels_are_checked_after_402(app, api, decode_spy):
    app.config["MAX_OUTPUT_PIXELS"] = 10**9
    response = api.submit("enhance", lossless_webp(300, 200))
    assert response.status_code == 202
    assert decode_spy.calls  # the upload was proven decodable before it was charged


def test_parallel_decodes_stay_within_the_web_pixel_budget(app, client, make_user, make_key, monkeypatch):
    """Six large uploads at once: with a budget of one such image, at most one is decoded at a time."""
    import cv2

    spy = DecodeSpy(hold_seconds=0.2)
    monkeypatch.setattr(ImageFile.ImageFile, "load", spy.wrap("pillow", ImageFile.ImageFile.load))
    monkeypatch.setattr(cv2, "imdecode", spy.wrap("opencv", cv2.imdecode))
    app.config["WEB_DECODE_PIXELS"] = 1200 * 1200
    user = make_user(credits=10)
    key = make_key(user)
    upload = lossless_webp(1200, 1200)
    statuses: list[int] = []

    def submit():
        response = client.post("/api/v1/enhance", headers={"Authorization": f"Bearer {key}"},
                               data={"image": (io.BytesIO(upload), "big.webp")}, content_type="multipart/form-data")
        statuses.append(response.status_code)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [202] * 6
    assert len(spy.calls) >= 6 and spy.most_at_once == 1


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) / 1024 for line in handle if line.startswith(field + ":"))


def test_checking_a_6300_square_webp_costs_under_300_mb(app, api, big_webp):
    """The accepted path: the upload is proven decodable without holding a full-size copy of its pixels."""
    import cv2  # noqa: F401  (its import is not the decode's cost)

    app.config["MAX_OUTPUT_PIXELS"] = 10**9
    api.submit("enhance", lossless_webp(64, 64))  # warm every import on the path
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # the peak (VmHWM) restarts from the current resident set
    before = _status_mb("VmRSS")
    response = api.submit("enhance", big_webp)
    growth = _status_mb("VmHWM") - before
    assert response.status_code == 202, response.get_json()
    assert growth < 300, f"checking the upload took the process {growth:.0f} MB higher"


def test_small_images_still_pass_the_pixel_check(api):
    for fmt in ("PNG", "JPEG", "WEBP"):
        assert api.submit("enhance", image_bytes(fmt=fmt)).status_code == 202, fmt


def test_a_decode_that_cannot_get_its_pixels_in_time_is_503_not_a_crash():
    from pixelforge.decode_budget import DecodeBusy, PixelBudget

    budget = PixelBudget(100)
    with budget.hold(60):
        with budget.hold(40):  # fits beside it
            pass
        with pytest.raises(DecodeBusy):
            with budget.hold(50, timeout=0.05):
                pass
        with pytest.raises(DecodeBusy):  # larger than the whole budget: waits for all of it
            with budget.hold(10_000, timeout=0.05):
                pass
    with budget.hold(10_000, timeout=0.05):
        assert budget.in_use == 100
    assert budget.in_use == 0
