"""What the browser tests share: a real service and a headless Chromium (Debian's, driven by Playwright; never a
downloaded browser) per test module, accounts signed up over HTTP, screenshots and axe-core. A plain module, not a
conftest.py: other tests import their helpers from the root conftest by that name. Screenshots land in test-artifacts/screenshots/
(git-ignored) for a person to look at; axe-core (the copy the axe-playwright-python package ships, injected
without a CDN) checks pages for accessibility problems.
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

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
PASSWORD = "browser-test-password"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
TABS = {"upscale": "Upscale", "remove-background": "Remove background", "restore-face": "Restore face",
        "enhance": "Enhance", "erase-object": "Erase object", "inpaint": "Inpaint"}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


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
    env = {"PIXELFORGE_AUTH_RATE_LIMIT": "600/minute"}  # every test signs up from 127.0.0.1
    with LiveService(tmp_path_factory.mktemp("browser") / "instance", env=env) as live:
        yield live


@pytest.fixture(scope="module")
def chromium():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium):
    """open_page(viewport, cookies) → a fresh page; console errors and page errors collect in page.problems."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    contexts = []

    def make(viewport: dict = DESKTOP, cookies: list | None = None):
        context = chromium.new_context(viewport=viewport, accept_downloads=True)
        contexts.append(context)
        if cookies:
            context.add_cookies(cookies)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.problems = []
        page.on("console", lambda message: message.type == "error" and page.problems.append(
            f"console: {message.text} at {message.location.get('url')}"))
        page.on("pageerror", lambda error: page.problems.append(f"pageerror: {error}"))
        return page

    yield make
    for context in contexts:
        context.close()


class Account:
    """A user signed up over HTTP; its session cookie signs a browser in without another sign-in POST (sign-ins
    are rate limited per address, and every test here comes from 127.0.0.1)."""

    def __init__(self, service: LiveService, plan: str = "free", credits: int | None = None):
        self.service, self.email = service, f"browser-{uuid.uuid4().hex[:8]}@example.com"
        self.http = requests.Session()
        form = self.http.get(f"{service.base}/signup", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        answer = self.http.post(f"{service.base}/signup", timeout=10, allow_redirects=False,
                                data={"email": self.email, "password": PASSWORD, "csrf_token": token})
        assert answer.status_code == 302, answer.text[:300]
        if plan != "free":
            service.cli("users", "set-plan", self.email, plan)
        if credits is not None and credits != 10:  # sign-ups start with 10
            service.cli("users", "add-credits", self.email, "--", str(credits - 10))

    @property
    def cookies(self) -> list[dict]:
        return [{"name": c.name, "value": c.value, "url": self.service.base} for c in self.http.cookies]


@pytest.fixture
def account(service):
    return lambda plan="free", credits=None: Account(service, plan, credits)


def shot(page, name: str, full_page: bool = False) -> Path:
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def axe_violations(page, context: str | None = None) -> list[str]:
    """axe-core's WCAG 2.1 A/AA and best-practice violations on the page, one line each."""
    import axe_playwright_python

    source = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
    page.evaluate(source)  # evaluated through the DevTools protocol: no CDN, and the page's CSP does not apply
    result = page.evaluate("([context, tags]) => axe.run(context || document, {runOnly: {type: 'tag', values: tags}})",
                           [context, AXE_TAGS])
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
            for v in result["violations"]]


def photo(path: Path, size=(320, 240)) -> Path:
    """A smooth test picture with a dark square in the middle (to erase)."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    picture = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 160)], axis=-1).astype(np.uint8)
    picture[height * 3 // 8:height * 5 // 8, width * 13 // 32:width * 19 // 32] = (20, 20, 20)
    Image.fromarray(picture, "RGB").save(path)
    return path


def open_tool(page, base: str, slug: str) -> None:
    page.goto(f"{base}/playground/")
    page.get_by_role("tab", name=TABS[slug], exact=True).click()
    page.locator(f"#{slug}-run").wait_for(state="visible")


def upload(page, slug: str, picture: Path) -> None:
    """Give the tool its picture: the painter's file input, or Gradio's image upload."""
    if slug in ("erase-object", "inpaint"):
        page.locator(f"#{slug}-editor input.pf-file").set_input_files(str(picture))
        page.locator(f"#{slug}-editor .pf-painter[data-state=ready]").wait_for()
    else:
        page.locator(f"#{slug}-image input[type=file]").set_input_files(str(picture))
        page.locator(f"#{slug}-image img").first.wait_for()


def stroke(page, slug: str, start: tuple[float, float], end: tuple[float, float], steps: int = 12) -> None:
    """Drag the mouse over the painter's canvas between two points given as fractions of its size."""
    box = page.locator(f"#{slug}-editor canvas").bounding_box()
    x0, y0 = box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1]
    x1, y1 = box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for step in range(1, steps + 1):
        page.mouse.move(x0 + (x1 - x0) * step / steps, y0 + (y1 - y0) * step / steps)
    page.mouse.up()


def run_and_wait(page, slug: str, timeout: float = 120_000) -> str:
    """Press Run and wait for the run to end; the status panel's final state (done, error, cancelled)."""
    page.eval_on_selector(f"#{slug}-status .pf-status", "panel => panel.setAttribute('data-before-run', '')")
    page.locator(f"#{slug}-run").click()  # the next panel drops the mark (the page morphs it in place)
    final = page.locator(f"#{slug}-status .pf-status:not([data-before-run]):is([data-state=done], "
                         f"[data-state=error], [data-state=cancelled])")
    final.wait_for(timeout=timeout)
    return final.get_attribute("data-state")
