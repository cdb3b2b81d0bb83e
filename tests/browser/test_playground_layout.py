"""Issue 17: the playground says what will run before Run, hides a tool that cannot run before anyone prepares
anything, works from the keyboard, and fits a phone (every tool in view, no label under a toolbar, the result in
view after Run)."""
from __future__ import annotations

import pytest

from browsing import PHONE, TABS, open_tool, photo, run_and_wait, shot, upload
from browsing import account, chromium, open_page, service  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def overlaps(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_each_tool_says_what_will_run_and_inpaint_is_unavailable_up_front(service, open_page, account):
    page, base = open_page(cookies=account().cookies), service.base
    open_tool(page, base, "upscale")
    note = page.locator("#upscale-engine")
    note.filter(has_text="pixelforge models pull realesrgan-x2plus").wait_for()  # said once the page loads
    assert "classical" in note.inner_text()
    page.locator("#upscale-scale").get_by_text("4x", exact=True).click()
    note.filter(has_text="pixelforge models pull realesr-general-x4v3").wait_for()  # 4x has another model

    page.get_by_role("tab", name="Remove background", exact=True).click()
    choices = page.locator("#remove-background-model input[type=radio]")
    assert choices.count() == 1 and choices.first.get_attribute("value") in ("", None)  # automatic only

    page.get_by_role("tab", name="Inpaint", exact=True).click()
    inpaint = page.locator("#inpaint-engine")
    inpaint.filter(has_text="Unavailable").wait_for()
    assert "Unavailable" in inpaint.inner_text() and "pixelforge models pull sd-inpainting" in inpaint.inner_text()
    assert not page.locator("#inpaint-editor").is_visible()  # nothing to upload or paint in vain
    assert not page.locator("#inpaint-run").is_visible()
    shot(page, "50-inpaint-unavailable")
    assert page.problems == []


def test_tabs_and_radios_work_from_the_keyboard(service, open_page, account):
    page, base = open_page(cookies=account().cookies), service.base
    open_tool(page, base, "upscale")
    page.get_by_role("tab", name="Upscale", exact=True).focus()
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("tab", name="Remove background").get_attribute("aria-selected") == "true"
    page.keyboard.press("End")
    assert page.get_by_role("tab", name="Inpaint").get_attribute("aria-selected") == "true"
    page.keyboard.press("Home")
    assert page.get_by_role("tab", name="Upscale").get_attribute("aria-selected") == "true"
    two = page.locator("#upscale-scale input[type=radio]").first
    two.focus()
    page.keyboard.press("ArrowRight")
    assert page.locator("#upscale-scale input[type=radio]").nth(1).is_checked()
    assert page.evaluate("document.activeElement.type") == "radio"


def test_a_phone_sees_every_tool_and_its_result(service, open_page, account, tmp_path):
    page, base = open_page(PHONE, account(credits=5).cookies), service.base
    open_tool(page, base, "enhance")
    tabs = page.get_by_role("tab")
    assert tabs.count() == len(TABS)
    for index in range(tabs.count()):  # every tool a tap away: none hidden behind a "more" menu
        box = tabs.nth(index).bounding_box()
        assert tabs.nth(index).is_visible() and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert page.get_by_role("button", name="More tabs").count() == 0
    shot(page, "60-phone-tools")

    upload(page, "enhance", photo(tmp_path / "photo.png"))
    label = page.locator("#enhance-image [data-testid=block-label]").bounding_box()
    for button in page.locator("#enhance-image .icon-button-wrapper button").all():
        assert not overlaps(label, button.bounding_box())  # the toolbar does not cover the label

    assert run_and_wait(page, "enhance") == "done"
    after = page.locator("#enhance-result img.pf-after[data-shown-at]")
    after.wait_for()
    box = after.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] / 2 <= PHONE["height"]  # in view without scrolling
    shot(page, "61-phone-result")

    page.get_by_role("tab", name="Erase object", exact=True).click()
    upload(page, "erase-object", photo(tmp_path / "photo.png"))
    canvas = page.locator("#erase-object-editor canvas").bounding_box()
    tools = page.locator("#erase-object-editor .pf-tools").bounding_box()
    assert canvas["width"] <= PHONE["width"] and not overlaps(canvas, tools)
    shot(page, "62-phone-painter")
    assert page.problems == []
