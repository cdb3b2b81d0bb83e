"""The whole browser journey on the real service: sign up, sign in, a key, the playground's erase, the history."""
from __future__ import annotations

import re
import uuid

import pytest
import requests

from browsing import PASSWORD, TABS, open_tool, photo, run_and_wait, shot, stroke, upload
from browsing import account, chromium, open_page, service  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def fill_and_submit(page, fields: dict[str, str]) -> None:
    for selector, value in fields.items():
        page.fill(selector, value)
    with page.expect_navigation():
        page.locator("main form").get_by_role("button").click()


def test_sign_up_to_erase_in_the_playground(service, open_page, tmp_path):
    page, base = open_page(), service.base
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
    for slug, title in TABS.items():
        page.get_by_role("tab", name=title, exact=True).click()
        page.locator(f"#{slug}-engine").wait_for(state="visible")
        page.wait_for_timeout(300)
        shot(page, f"10-playground-{slug}")
    open_tool(page, base, "erase-object")
    upload(page, "erase-object", photo(tmp_path / "photo.png"))
    stroke(page, "erase-object", (0.42, 0.5), (0.58, 0.5))
    assert run_and_wait(page, "erase-object") == "done"
    status = page.locator("#erase-object-status").inner_text()
    assert "Done" in status and "1 credit charged" in status and "balance is 9" in status
    page.locator("#erase-object-result img.pf-after[data-shown-at]").wait_for()
    assert page.locator("#erase-object-result img").count() == 2  # before and after
    shot(page, "11-playground-erase-result", full_page=True)
    with page.expect_download() as download:
        page.locator("#erase-object-result a.pf-download[data-format=png]").click()
    assert download.value.suggested_filename.endswith(".png")
    job_id = re.search(r"Open job ([0-9a-f]{8})", status).group(1)

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

    headers = {"Authorization": f"Bearer {key}"}
    jobs = requests.get(f"{base}/api/v1/jobs", headers=headers, timeout=10).json()["jobs"]
    erase = [job for job in jobs if job["job_id"].startswith(job_id)]
    assert len(erase) == 1 and erase[0]["status"] == "done" and erase[0]["credits"] == 1
    assert requests.get(f"{base}/api/v1/account", headers=headers, timeout=10).json()["credits"] == 9

    assert page.problems == []
