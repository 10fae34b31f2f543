"""Readable everywhere: at 390 x 844 the main pages and a dialog fit the screen (no sideways scroll) and
no two visible text or control boxes overlap; and every main page is saved as a PNG at desktop and
phone width under e2e/artifacts/ for reviewers to read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.conftest import OVERLAPS, LiveServer, api_call, log_in

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _pages(server: LiveServer) -> dict[str, str]:
    schedules = api_call(server, "GET", "/schedules")
    incident = api_call(
        server,
        "POST",
        "/incidents",
        {"title": "Phone width check", "severity": "SEV3", "schedule_id": schedules[0]["id"]},
    )
    return {
        "oncall": "/ws/demo/oncall/",
        "schedule": f"/ws/demo/oncall/schedules/{schedules[0]['id']}",
        "incident": f"/ws/demo/incidents/{incident['id']}",
        "delivery-log": "/ws/demo/settings/integrations",
        "people": "/ws/demo/people/",
        "profile": "/ws/demo/profile/",
    }


def _fits(page: Page, what: str, root: str | None = None) -> None:
    """No sideways scroll, and no overlapping boxes (within `root`: a dialog lies over the page)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{what}: {width} px wide at a {PHONE['width']} px screen"
    overlaps = page.evaluate(OVERLAPS, root)
    assert not overlaps, f"{what}: boxes overlap: {overlaps}"


@pytest.fixture
def phone(browser: Browser) -> Any:
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    yield context.new_page()
    context.close()


def test_main_pages_and_a_dialog_fit_a_phone(phone: Page, live_server: LiveServer) -> None:
    log_in(phone, live_server, "admin@example.com")
    for name, path in _pages(live_server).items():
        phone.goto(live_server.url + path)
        expect(phone.locator("h1").first).to_be_visible()
        _fits(phone, name)
    schedule = _pages(live_server)["schedule"]
    phone.goto(live_server.url + schedule)
    phone.locator("td.edit a").first.click()
    dialog = phone.get_by_role("dialog")
    expect(dialog).to_be_visible()
    _fits(phone, "slot dialog", "dialog[open]")
    box = dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    # One way to show time: a 24-hour HH:MM beside the date, with the zone named; never AM/PM.
    clock = dialog.locator("#slot-start-time").input_value()
    assert re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", clock), clock
    assert "24-hour" in dialog.locator("fieldset.when legend").first.inner_text()
    assert "Europe/" in dialog.locator("fieldset.when legend").first.inner_text() or "UTC" in dialog.inner_text()
    assert not re.search(r"\b(AM|PM)\b", dialog.inner_text())
    phone.keyboard.press("Escape")
    phone.goto(live_server.url + schedule)
    phone.get_by_role("link", name="Hand off").click()
    handoff = phone.get_by_role("dialog")
    expect(handoff).to_be_visible()
    _fits(phone, "hand-off dialog", "dialog[open]")


def test_screenshots_at_desktop_and_phone_width(browser: Browser, live_server: LiveServer) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        log_in(page, live_server, "admin@example.com")
        for name, path in _pages(live_server).items():
            page.goto(live_server.url + path)
            shot = ARTIFACTS / f"{name}-{label}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 0
        context.close()
