"""Issue 17: axe-core finds no accessibility violations on any dashboard or playground page, at a laptop's and
a phone's size; each page has one h1. Every page is screenshotted at both sizes (test-artifacts/screenshots/)."""
from __future__ import annotations

import re

import pytest
import requests

from browsing import DESKTOP, PHONE, TABS, axe_violations, open_tool, photo, run_and_wait, shot, upload
from browsing import account, chromium, open_page, service  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(scope="module")
def history(service):
    """A pro account with a key, a done job and a job that found no face (through the API)."""
    from browsing import Account

    user = Account(service, plan="pro", credits=20)
    page = user.http.get(f"{service.base}/dashboard/keys", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    shown = user.http.post(f"{service.base}/dashboard/keys", data={"name": "laptop", "csrf_token": token},
                           timeout=10)  # followed to the page that shows the key once
    user.key = re.search(r'data-testid="new-key">(pfk_\w+)<', shown.text).group(1)
    user.prefix = user.key[:12]
    headers = {"Authorization": f"Bearer {user.key}"}
    with open(photo(service.instance.parent / "a11y.png"), "rb") as picture:
        data = picture.read()
    user.jobs = {}
    for operation in ("enhance", "restore-face"):
        submitted = requests.post(f"{service.base}/api/v1/{operation}", headers=headers, timeout=30,
                                  files={"image": ("photo.png", data)})
        assert submitted.status_code == 202, submitted.text
        user.jobs[operation] = submitted.json()["job_id"]
    for job_id in user.jobs.values():
        for _ in range(240):
            job = requests.get(f"{service.base}/api/v1/jobs/{job_id}", headers=headers, timeout=10).json()
            if job["status"] in ("done", "failed"):
                break
            __import__("time").sleep(0.5)
    return user


def check(page, name: str, size: str) -> list[str]:
    """Screenshot the page and list what is wrong with it: axe's violations and a count of h1s other than one."""
    shot(page, f"a11y-{name}-{size}", full_page=True)
    problems = [f"{name} ({size}): {line}" for line in axe_violations(page)]
    headings = page.locator("h1").count()
    if headings != 1:
        problems.append(f"{name} ({size}): {headings} h1 elements")
    return problems


@pytest.mark.parametrize("size", VIEWPORTS)
def test_dashboard_pages_have_no_accessibility_violations(service, open_page, history, size):
    base, problems = service.base, []
    anonymous = open_page(VIEWPORTS[size])
    for name, path in [("landing", "/"), ("signup", "/signup"), ("login", "/login")]:
        anonymous.goto(base + path)
        problems += check(anonymous, name, size)

    page = open_page(VIEWPORTS[size], history.cookies)
    enhance, no_face = history.jobs["enhance"], history.jobs["restore-face"]
    for name, path in [("overview", "/dashboard"), ("keys", "/dashboard/keys"),
                       ("revoke", f"/dashboard/keys/{history.prefix}/revoke"), ("credits", "/dashboard/credits"),
                       ("jobs", "/dashboard/jobs"), ("job", f"/dashboard/jobs/{enhance}"),
                       ("job-no-face", f"/dashboard/jobs/{no_face}"), ("models", "/dashboard/models"),
                       ("sign-out", "/logout"), ("not-found", "/dashboard/jobs/no-such-job"),
                       ("signed-in-landing", "/")]:
        page.goto(base + path)
        page.wait_for_load_state("load")
        problems += check(page, name, size)
    page.goto(f"{base}/dashboard/keys")
    page.fill("#name", "another")
    with page.expect_navigation():
        page.get_by_role("button", name="Create key").click()
    problems += check(page, "keys-new-key", size)
    page.goto(f"{base}/api/docs")
    page.wait_for_timeout(1500)
    shot(page, f"a11y-api-docs-{size}", full_page=True)  # Swagger UI's page: looked at, not ours to fix
    assert problems == []
    expected = f"404 (Not Found) at {base}/dashboard/jobs/no-such-job"  # the not-found page itself
    assert [p for p in page.problems if not p.endswith(expected)] == [] and anonymous.problems == []


@pytest.mark.parametrize("size", VIEWPORTS)
def test_playground_has_no_accessibility_violations(service, open_page, account, size, tmp_path):
    base, problems = service.base, []
    page = open_page(VIEWPORTS[size], account(credits=5).cookies)
    open_tool(page, base, "upscale")
    page.locator("#upscale-engine", has_text="classical").wait_for()
    for slug, title in TABS.items():
        page.get_by_role("tab", name=title, exact=True).click()
        page.locator(f"#{slug}-engine p").wait_for()
        page.wait_for_timeout(300)
        problems += check(page, f"playground-{slug}", size)
    open_tool(page, base, "enhance")
    upload(page, "enhance", photo(tmp_path / "photo.png"))
    assert run_and_wait(page, "enhance") == "done"
    page.locator("#enhance-result img.pf-after[data-shown-at]").wait_for()
    problems += check(page, "playground-result", size)
    open_tool(page, base, "erase-object")
    upload(page, "erase-object", photo(tmp_path / "photo.png"))
    problems += check(page, "playground-painter", size)
    assert problems == []
    assert page.problems == []
