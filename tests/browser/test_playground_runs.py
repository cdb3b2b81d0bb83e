"""Issue 17: runs that tell the truth and results worth looking at — a 4x upscale shows within a second of its
job's end, Cancel refunds, the same picture runs again, a failed rerun leaves nothing stale, a result downloads in
three formats and becomes the next tool's input."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from browsing import open_tool, photo, run_and_wait, shot, upload
from browsing import account, chromium, open_page, service  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def big_photo(path, size=(1920, 1280)):
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    noise = np.random.default_rng(7).integers(0, 24, (height, width, 3), dtype=np.uint8)
    picture = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], -1).astype(np.uint8) + noise
    Image.fromarray(picture).save(path, quality=90)
    return path


def choose(page, slug: str, param: str, label: str) -> None:
    page.locator(f"#{slug}-{param}").get_by_text(label, exact=True).click()


def test_a_4x_upscale_shows_within_a_second_of_its_jobs_end(service, open_page, account, tmp_path):
    page, base = open_page(cookies=account(credits=10).cookies), service.base
    open_tool(page, base, "upscale")
    upload(page, "upscale", big_photo(tmp_path / "big.jpg"))
    choose(page, "upscale", "scale", "4x")
    page.locator("#upscale-engine", has_text="realesr-general-x4v3").wait_for()  # the 4x model it would use
    page.locator("#upscale-run").click()
    page.locator("#upscale-status [data-state=processing]").wait_for(timeout=60_000)
    assert "%" in page.locator("#upscale-status").inner_text()
    after = page.locator("#upscale-result img.pf-after[data-shown-at]")
    after.wait_for(timeout=180_000)
    panel = page.locator("#upscale-result .pf-result")
    late = int(after.get_attribute("data-shown-at")) / 1000 - float(panel.get_attribute("data-finished-at"))
    assert late < 1.0, f"the result showed {late:.2f} s after the job finished"
    assert page.evaluate("img => img.naturalWidth", after.element_handle()) <= 1600  # a preview, not 40 MP
    facts = page.locator("#upscale-result .pf-facts").inner_text()
    assert "7680×5120 px" in facts and "classical" in facts and "Time" in facts
    shot(page, "40-upscale-4x-result", full_page=True)

    page.get_by_role("button", name="1:1 (full size)").click()  # the full result, one click away
    page.wait_for_function("img => img.complete && img.naturalWidth === 7680", arg=after.element_handle(),
                           timeout=60_000)
    assert page.locator("#upscale-result .pf-viewer").get_attribute("data-mode") == "actual"
    shot(page, "41-upscale-4x-actual-size")
    assert page.problems == []


def test_cancel_refunds_and_says_so(service, open_page, account, tmp_path):
    page, base = open_page(cookies=account(credits=10).cookies), service.base
    open_tool(page, base, "upscale")
    upload(page, "upscale", big_photo(tmp_path / "big.jpg"))
    choose(page, "upscale", "scale", "4x")
    page.locator("#upscale-run").click()
    page.locator("#upscale-status :is([data-state=queued], [data-state=processing])").wait_for()
    page.locator("#upscale-cancel").click()
    assert run_state(page, "upscale") == "cancelled"
    assert "2 credits were refunded" in page.locator("#upscale-status").inner_text()
    assert page.locator("#upscale-result .pf-after").count() == 0
    page.locator("#pf-account [data-testid=balance]", has_text="10").wait_for()
    assert not page.locator("#upscale-cancel").is_visible()


def run_state(page, slug: str) -> str:
    final = page.locator(f"#{slug}-status .pf-status:is([data-state=done], [data-state=error], "
                         f"[data-state=cancelled])")
    final.wait_for(timeout=120_000)
    return final.get_attribute("data-state")


def test_run_again_download_chain_and_a_failed_rerun_leaves_nothing_stale(service, open_page, account, tmp_path):
    page, base = open_page(cookies=account(credits=3).cookies), service.base
    open_tool(page, base, "enhance")
    upload(page, "enhance", photo(tmp_path / "photo.png"))
    assert run_and_wait(page, "enhance") == "done"
    assert run_and_wait(page, "enhance") == "done"  # the same picture again: its upload is still there
    for fmt, mimetype, pil_format in [("png", "image/png", "PNG"), ("jpeg", "image/jpeg", "JPEG"),
                                      ("webp", "image/webp", "WEBP")]:
        link = page.locator(f"#enhance-result a.pf-download[data-format={fmt}]")
        response = page.request.get(base + link.get_attribute("href"))
        assert response.ok and response.headers["content-type"] == mimetype
        assert "attachment" in response.headers["content-disposition"]
        assert response.body()[:4] in {"PNG": [b"\x89PNG"], "JPEG": [b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb"],
                                        "WEBP": [b"RIFF"]}[pil_format]

    # The result becomes the erase tool's picture, ready to paint on.
    page.locator("#enhance-use-target").get_by_label("Erase object").check()
    page.locator("#enhance-use").click()
    page.locator("#erase-object-editor .pf-painter[data-state=ready]").wait_for()
    assert page.get_by_role("tab", name="Erase object").get_attribute("aria-selected") == "true"
    shot(page, "42-result-used-as-input")

    # One credit left: spend it, then a rerun is refused and takes the old result and its downloads away.
    page.get_by_role("tab", name="Enhance", exact=True).click()
    assert run_and_wait(page, "enhance") == "done"
    assert run_and_wait(page, "enhance") == "error"
    status = page.locator("#enhance-status")
    assert "Not enough credits" in status.inner_text() and "402" not in status.inner_text()
    assert status.get_by_role("link", name="See your credits").get_attribute("href") == "/dashboard/credits"
    assert page.locator("#enhance-result .pf-after").count() == 0
    assert page.locator("#enhance-result a.pf-download").count() == 0
    assert not page.locator("#enhance-use").is_visible()
    shot(page, "43-failed-rerun")
    assert page.problems == []


def test_a_photo_without_a_face_says_so_and_is_refunded(service, open_page, account, tmp_path):
    page, base = open_page(cookies=account(credits=1).cookies), service.base
    open_tool(page, base, "restore-face")
    upload(page, "restore-face", photo(tmp_path / "photo.png"))
    assert run_and_wait(page, "restore-face") == "error"
    status = page.locator("#restore-face-status").inner_text()
    assert "No face was found in this picture" in status and "1 credit was refunded" in status
    page.locator("#pf-account [data-testid=balance]", has_text="1").wait_for()
    assert page.locator("#restore-face-result .pf-after").count() == 0


def test_a_refused_picture_is_said_in_the_status_panel_until_a_good_one_comes(service, open_page, account, tmp_path):
    user = account(credits=1)
    page, base = open_page(cookies=user.cookies), service.base
    open_tool(page, base, "enhance")
    not_a_picture = tmp_path / "notes.png"
    not_a_picture.write_text("these are notes, not a picture\n")
    page.locator("#enhance-image input[type=file]").set_input_files(str(not_a_picture))
    refused = page.locator("#enhance-status [data-state=upload-refused]")
    refused.wait_for()
    assert refused.get_attribute("role") == "alert"
    assert refused.inner_text().startswith("Picture not accepted. Image is not a supported image")
    page.wait_for_timeout(1500)  # Gradio's own pop-up comes as the upload's answer arrives: it is closed at once
    assert page.locator(".toast-body", has_text="not a supported image").count() == 0
    shot(page, "44-refused-picture")

    upload(page, "enhance", photo(tmp_path / "photo.png"))
    page.locator("#enhance-status [data-state=idle]", has_text="Press Run when ready.").wait_for()
    assert page.locator("#pf-account").inner_text().startswith(f"Signed in as {user.email} · free plan · 1 credit\n")
    assert run_and_wait(page, "enhance") == "done"
    page.locator("#pf-account", has_text="0 credits").wait_for()

    open_tool(page, base, "erase-object")  # the mask painter's own upload says it the same way
    page.locator("#erase-object-editor input.pf-file").set_input_files(str(not_a_picture))
    page.locator("#erase-object-status [data-state=upload-refused]").wait_for()
    painter_line = page.locator("#erase-object-editor .pf-painter-status").inner_text()
    assert painter_line == "The picture was not accepted: image is not a supported image; send PNG, JPEG or WebP"
    page.wait_for_timeout(1500)
    assert page.locator(".toast-body", has_text="not a supported image").count() == 0
    page.problems[:] = [problem for problem in page.problems if "422" not in problem]  # the refused uploads
    assert page.problems == []
