"""The whole browser journey on the real service: sign up, sign in, a key, the playground's erase, the history.

Headless Chromium from Debian's package, driven by Playwright; never a downloaded browser.
Screenshots of every page land in test-artifacts/screenshots/ (git-ignored) for a person to look at.
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from service import REPO_ROOT, LiveService

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
PASSWORD = "browser-test-password"
TABS = {"upscale": "Upscale", "remove-background": "Remove background", "restore-face": "Restore face",
        "enhance": "Enhance", "erase-object": "Erase object", "inpaint": "Inpaint"}


def require_chromium() -> None:
    """Skip without Debian's Chromium (or Playwright), except on CI, where that is a failure."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "Playwright for Python is missing: pip install -e '.[test]'"
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    require_chromium()  # before minutes of starting the service for nothing
    with LiveService(tmp_path_factory.mktemp("browser") / "instance") as live:
        yield live


@pytest.fixture
def browser_page(tmp_path):
    """A fresh Chromium page; console errors and uncaught page errors are collected in page.problems."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.problems = []
        page.on("console", lambda message: message.type == "error" and page.problems.append(
            f"console: {message.text} at {message.location.get('url')}"))
        page.on("pageerror", lambda error: page.problems.append(f"pageerror: {error}"))
        yield page
        context.close()
        browser.close()


def shot(page, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def photo(path: Path) -> Path:
    """A smooth test picture with a dark square to erase."""
    y, x = np.mgrid[0:240, 0:320]
    picture = np.stack([x * 255 // 320, y * 255 // 240, np.full_like(x, 160)], axis=-1).astype(np.uint8)
    picture[90:150, 130:190] = (20, 20, 20)
    Image.fromarray(picture, "RGB").save(path)
    return path


def paint_over_the_square(page, slug: str, picture: Path) -> None:
    """Upload picture into the tab's mask editor and brush over the dark square in its middle."""
    editor = page.locator(f"#{slug}-editor")
    editor.locator("canvas").first.wait_for(state="visible")
    page.wait_for_timeout(1000)  # the editor's canvas finishes setting up after its tab is shown
    editor.locator("input[type=file]").first.set_input_files(str(picture))
    page.wait_for_timeout(1500)
    editor.get_by_role("button", name="Brush", exact=True).click()
    box = editor.locator("canvas").first.bounding_box()
    x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5  # the picture is centred
    for dy in (-36, -18, 0, 18, 36):
        page.mouse.move(x - 45, y + dy)
        page.mouse.down()
        for step in range(10):
            page.mouse.move(x - 45 + step * 10, y + dy)
        page.mouse.up()
    page.wait_for_timeout(500)


def fill_and_submit(page, fields: dict[str, str]) -> None:
    for selector, value in fields.items():
        page.fill(selector, value)
    with page.expect_navigation():
        page.locator("main form").get_by_role("button").click()


def test_sign_up_to_erase_in_the_playground(service, browser_page, tmp_path):
    page, base = browser_page, service.base
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"

    # Anonymous visitors of the playground are sent to sign in, and come back afterwards.
    page.goto(f"{base}/playground/")
    assert page.url == f"{base}/login?next=/playground/"

    page.goto(f"{base}/signup")
    shot(page, "01-signup")
    fill_and_submit(page, {"#email": email, "#password": PASSWORD})
    assert page.url == f"{base}/dashboard"
    assert page.get_by_test_id("balance").inner_text() == "10"

    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert page.url.startswith(f"{base}/login")
    shot(page, "02-login")
    fill_and_submit(page, {"#email": email, "#password": PASSWORD})
    assert page.url == f"{base}/dashboard"

    # New accounts are on the free plan (no API access); an administrator moves this one to pro.
    page.goto(f"{base}/dashboard/keys")
    assert "no API access" in page.content()
    service.cli("users", "set-plan", email, "pro")
    page.reload()
    page.fill("#name", "browser test")
    with page.expect_navigation():
        page.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("new-key").inner_text().strip()
    assert re.fullmatch(r"pfk_[A-Za-z0-9]{48}", key)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.get_by_role("button", name="Copy", exact=True).click()
    page.get_by_text("Copied to the clipboard.").wait_for()
    shot(page, "03-keys-new-key")
    page.goto(f"{base}/dashboard/keys")
    assert key not in page.content() and key[:12] in page.content()  # shown once; the prefix stays

    # The playground: a tab per tool; erase with a brush stroke over an uploaded picture.
    page.goto(f"{base}/playground/")
    page.get_by_role("tab", name="Upscale").wait_for()
    for slug, title in TABS.items():
        page.get_by_role("tab", name=title, exact=True).click()
        page.locator(f"#{slug}-run").wait_for(state="visible")
        page.wait_for_timeout(500)
        shot(page, f"10-playground-{slug}")
    picture = photo(tmp_path / "photo.png")
    page.get_by_role("tab", name="Erase object", exact=True).click()
    paint_over_the_square(page, "erase-object", picture)
    page.locator("#erase-object-run").click()
    page.locator("#erase-object-download").wait_for(state="visible", timeout=120_000)
    status = page.locator("#erase-object-status").inner_text()
    assert "Done" in status and "1 credit(s) charged" in status and "balance 9" in status
    assert page.locator("#erase-object-result img").count() == 2  # before and after
    shot(page, "11-playground-erase-result")
    with page.expect_download() as download:
        page.locator("#erase-object-download").click()
    assert download.value.suggested_filename.endswith(".png")
    job_id = re.search(r"open job ([0-9a-f]{8})", status).group(1)

    # The run is a job like any other: in the dashboard's history and in the API's list, charged once.
    page.goto(f"{base}/dashboard/jobs")
    row = page.locator("tr", has_text=job_id)
    assert "erase-object" in row.inner_text() and "done" in row.inner_text()
    shot(page, "20-jobs")
    with page.expect_navigation():
        row.get_by_role("link", name="erase-object", exact=True).click()
    result = page.get_by_test_id("result-image")
    result.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth", result.element_handle()) == 320
    shot(page, "21-job-detail")
    page.goto(f"{base}/dashboard/credits")
    assert page.get_by_test_id("balance").inner_text() == "9"
    assert "charge" in page.content() and "grant" in page.content()
    shot(page, "22-credits")
    page.goto(f"{base}/dashboard")
    shot(page, "23-overview")

    # Errors read as messages: inpainting without its model answers 503 with the command that installs it.
    page.goto(f"{base}/playground/")
    page.get_by_role("tab", name="Inpaint", exact=True).click()
    paint_over_the_square(page, "inpaint", picture)
    page.locator("#inpaint-run").click()
    toast = page.get_by_text("pixelforge models pull")
    toast.wait_for()
    toast.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # let the toast finish fading in
    shot(page, "12-playground-inpaint-error", full_page=False)  # the message is a toast over the page

    headers = {"Authorization": f"Bearer {key}"}
    jobs = requests.get(f"{base}/api/v1/jobs", headers=headers, timeout=10).json()["jobs"]
    erase = [job for job in jobs if job["job_id"].startswith(job_id)]
    assert len(erase) == 1 and erase[0]["status"] == "done" and erase[0]["credits"] == 1
    assert requests.get(f"{base}/api/v1/account", headers=headers, timeout=10).json()["credits"] == 9

    assert page.problems == []
