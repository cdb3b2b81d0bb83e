"""Issue 17: Clear mask clears in the browser, and no stroke is lost — after a clear and an idle wait, the next
stroke is the mask. Checked on the mask the job actually received."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from browsing import open_tool, photo, run_and_wait, shot, stroke, upload
from browsing import account, chromium, open_page, service  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def job_mask(page, base: str) -> np.ndarray:
    """The mask the last run's job received, as booleans (True = painted)."""
    job_id = page.locator("#erase-object-result .pf-result").get_attribute("data-job")
    response = page.request.get(f"{base}/dashboard/jobs/{job_id}/mask")
    assert response.ok
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("L")) > 127


def test_draw_clear_wait_draw_again_and_the_second_stroke_is_the_mask(service, open_page, account, tmp_path):
    page, base = open_page(cookies=account(credits=10).cookies), service.base
    uploads = []
    page.on("request", lambda request: "/gradio_api/" in request.url and request.method == "POST"
            and "/queue/join" not in request.url and uploads.append(request.url))
    open_tool(page, base, "erase-object")
    upload(page, "erase-object", photo(tmp_path / "photo.png"))
    painter = page.locator("#erase-object-editor .pf-painter")
    stroke(page, "erase-object", (0.1, 0.15), (0.35, 0.15))
    assert painter.get_attribute("data-strokes") == "1"
    sent_before_clear = len(uploads)

    page.locator("#erase-object-clear").click()
    assert painter.get_attribute("data-strokes") == "0"
    page.wait_for_timeout(7000)  # the old editor blanked about 6 s after a clear, with a timer that never ended
    assert len(uploads) == sent_before_clear  # clearing asked nothing of the server
    assert painter.get_attribute("data-state") == "ready" and "processing" not in page.content().lower()
    stroke(page, "erase-object", (0.6, 0.85), (0.9, 0.85))
    assert painter.get_attribute("data-strokes") == "1"
    shot(page, "30-painter-second-stroke")

    assert run_and_wait(page, "erase-object") == "done"
    mask = job_mask(page, base)
    assert mask.shape == (240, 320)
    assert mask[204, 200:280].all()  # the second stroke (y 0.85 of 240, x 0.6–0.9 of 320)
    assert not mask[:120].any()  # nothing of the cleared first stroke (y 0.15)


def test_quick_strokes_are_all_kept_and_undo_takes_back_the_last(service, open_page, account, tmp_path):
    page, base = open_page(cookies=account(credits=10).cookies), service.base
    open_tool(page, base, "erase-object")
    upload(page, "erase-object", photo(tmp_path / "photo.png"))
    for y in (0.2, 0.5, 0.8):  # one after another, no pause
        stroke(page, "erase-object", (0.1, y), (0.3, y), steps=4)
    stroke(page, "erase-object", (0.7, 0.5), (0.9, 0.5), steps=4)
    page.get_by_role("button", name="Undo stroke").click()
    assert page.locator("#erase-object-editor .pf-painter").get_attribute("data-strokes") == "3"
    assert run_and_wait(page, "erase-object") == "done"
    mask = job_mask(page, base)
    for row in (48, 120, 192):
        assert mask[row, 40:90].all(), row
    assert not mask[:, 230:].any()  # the undone stroke
    assert re.search(r"1 credit charged", page.locator("#erase-object-status").inner_text())
    assert page.problems == []
