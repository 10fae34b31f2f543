"""The on-call load report and the shift reminder choice (issue 23) in Chromium, on the demo workspace:
the Load link, the chart and its table, a refused period, the CSV; the reminder form's refusal and a
saved choice; both pages at phone width (no sideways scroll, no text on text, chart labels clear of
their bars). Screenshots go under e2e/artifacts/ with the other pages'."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from e2e.conftest import OVERLAPS, LiveServer, api_call, log_in

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # as e2e/test_phone_width.py
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
ADMIN = "admin@example.com"
CAROL = "carol@example.com"  # her reminder choice is changed here and put back after
CSV_HEADER = "user_email,user_name,schedule_id,schedule_name,hours,night_hours,weekend_hours,shifts,pages,acks"

# The chart's own text (SVG, which the check above does not look at): each label must stay inside the
# chart and clear of every bar (labels sit on a line of their own above their bar).
CHART_CLASHES = """
() => {
  const svg = document.querySelector('svg.load-chart');
  if (!svg) return ['no chart'];
  const box = svg.getBoundingClientRect();
  const bars = [...svg.querySelectorAll('rect')].map(r => r.getBoundingClientRect());
  const found = [];
  for (const t of svg.querySelectorAll('text.load-label')) {
    const r = t.getBoundingClientRect();
    if (r.right > box.right + 1) found.push(`label "${t.textContent}" ends at ${Math.round(r.right)}, chart at ${Math.round(box.right)}`);
    for (const b of bars) {
      const w = Math.min(r.right, b.right) - Math.max(r.left, b.left);
      const h = Math.min(r.bottom, b.bottom) - Math.max(r.top, b.top);
      if (w > 1 && h > 1) found.push(`label "${t.textContent}" runs into a bar`);
    }
  }
  return found;
}
"""


def _fits(page: Page, what: str) -> None:
    """No sideways scroll and no overlapping boxes."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{what}: {width} px wide at a {PHONE['width']} px screen"
    overlaps = page.evaluate(OVERLAPS, None)
    assert not overlaps, f"{what}: boxes overlap: {overlaps}"


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    yield context.new_page()
    context.close()


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    yield context.new_page()
    context.close()


@pytest.fixture
def carol_reminders_put_back(live_server: LiveServer) -> Iterator[None]:
    yield
    api_call(live_server, "PATCH", "/me", {"reminder_minutes": 0, "reminder_channels": ["slack"]}, as_email=CAROL)


def _shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path


# ---------------------------------------------------------------- the load report


def test_load_link_opens_the_chart_and_table_and_the_csv_downloads(desktop: Page, live_server: LiveServer) -> None:
    page = desktop
    log_in(page, live_server, ADMIN)
    page.get_by_role("navigation").get_by_role("link", name="Load", exact=True).click()
    expect(page).to_have_url(re.compile(r"/ws/demo/reports/oncall$"))
    expect(page.get_by_role("heading", name="On-call load", level=1)).to_be_visible()

    # The demo's rotations started two weeks ago: the default period (the last 30 days) has rows.
    rows = page.locator("#load-table tbody tr")
    expect(rows.first).to_be_visible()
    count = rows.count()
    expect(page.locator("svg.load-chart")).to_be_visible()
    expect(page.locator("svg.load-chart rect.load-bar")).to_have_count(count)
    people = {rows.nth(i).locator("td").nth(0).inner_text() for i in range(count)}
    assert {"Alice Archer", "Bob Baker", "Carol Chen", "Dave Diaz"} <= people, people
    # Each bar's tooltip names its row's person, schedule and hours, in the table's order.
    for i in range(count):
        cells = rows.nth(i).locator("td")
        title = page.locator("svg.load-chart rect.load-bar").nth(i).locator("title").text_content() or ""
        assert title == f"{cells.nth(0).inner_text()}, {cells.nth(1).inner_text()}: {cells.nth(2).inner_text()} h"
    _shot(page, "load-report-desktop")
    assert page.evaluate(CHART_CLASHES) == []

    # The CSV of the same period.
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith((CSV_HEADER + "\r\n", CSV_HEADER + "\n")), text[:200]
    assert len(text.strip().splitlines()) == count + 1
    assert "alice@example.com" in text

    # A period that ends before it starts: the error beside "to", 422, and no chart or table.
    today = datetime.datetime.now(datetime.UTC).date()
    page.get_by_label("From").fill(today.isoformat())
    page.locator("#last").fill((today - datetime.timedelta(days=3)).isoformat())
    with page.expect_response(lambda r: "/reports/oncall?" in r.url) as answered:
        page.get_by_role("button", name="Show").click()
    assert answered.value.status == 422
    error = page.locator("#last-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile(r"period must end (on or )?after"))
    expect(page.locator("#last")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#last")).to_have_attribute("aria-describedby", "last-error")
    expect(page.locator("#first")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("svg.load-chart")).to_have_count(0)
    expect(page.locator("#load-table")).to_have_count(0)
    expect(page.get_by_role("link", name="Download CSV")).to_have_count(0)
    # Beside the "to" field: right under the form that holds it, not somewhere down the page.
    field_box = page.locator("#last").bounding_box()
    error_box = error.bounding_box()
    assert field_box is not None and error_box is not None
    assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 80, (field_box, error_box)
    _shot(page, "load-report-error-desktop")


def test_load_report_fits_a_phone(phone: Page, live_server: LiveServer) -> None:
    log_in(phone, live_server, ADMIN)
    phone.goto(live_server.url + "/ws/demo/reports/oncall")
    expect(phone.locator("svg.load-chart")).to_be_visible()
    shot = _shot(phone, "load-report-phone")
    phone.locator("svg.load-chart").screenshot(path=str(ARTIFACTS / "load-report-chart-phone.png"))
    _fits(phone, f"load report ({shot.name})")
    clashes = phone.evaluate(CHART_CLASHES)
    assert not clashes, f"load report chart at {PHONE['width']} px ({shot}): {clashes}"


def test_load_report_error_fits_a_phone(phone: Page, live_server: LiveServer) -> None:
    log_in(phone, live_server, ADMIN)
    phone.goto(live_server.url + "/ws/demo/reports/oncall?first=2026-01-10&last=2026-01-01")
    expect(phone.locator("#last-error")).to_be_visible()
    shot = _shot(phone, "load-report-error-phone")
    _fits(phone, f"load report error ({shot.name})")


# ---------------------------------------------------------------- shift reminders


def _reminders(page: Page) -> Any:
    return page.locator("#reminders-section")


def test_reminder_choice_refused_without_a_channel_then_saved(
    desktop: Page, live_server: LiveServer, carol_reminders_put_back: None
) -> None:
    page = desktop
    log_in(page, live_server, CAROL)
    page.goto(live_server.url + "/ws/demo/profile/")
    section = _reminders(page)
    expect(section.get_by_role("heading", name="Shift reminders")).to_be_visible()
    section.get_by_label("Remind me").select_option(label="1 hour before")
    for name in ("Slack DM", "SMS"):
        section.get_by_label(name).uncheck()
    with page.expect_response(lambda r: r.url.endswith("/profile/reminders")) as answered:
        section.get_by_role("button", name="Save").click()
    assert answered.value.status == 422
    section = _reminders(page)
    error = section.locator("#reminder_channels-error")
    expect(error).to_be_visible()
    expect(section.locator("fieldset")).to_have_attribute("aria-describedby", "reminder_channels-error")
    # Beside the channels: right after their fieldset, and the choice made is kept.
    fieldset_box = section.locator("fieldset").bounding_box()
    error_box = error.bounding_box()
    assert fieldset_box is not None and error_box is not None
    assert 0 <= error_box["y"] - (fieldset_box["y"] + fieldset_box["height"]) < 40, (fieldset_box, error_box)
    expect(section.get_by_label("Remind me")).to_have_value("60")
    _shot(page, "profile-reminders-error-desktop")
    assert api_call(live_server, "GET", "/me", as_email=CAROL)["reminder_minutes"] == 0  # nothing saved

    section.get_by_label("Slack DM").check()
    section.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved your shift reminders")).to_be_visible()
    page.reload()
    section = _reminders(page)
    expect(section.get_by_label("Remind me")).to_have_value("60")
    expect(section.get_by_label("Remind me").locator("option:checked")).to_have_text("1 hour before")
    expect(section.get_by_label("Slack DM")).to_be_checked()
    expect(section.get_by_label("SMS")).not_to_be_checked()
    me = api_call(live_server, "GET", "/me", as_email=CAROL)
    assert (me["reminder_minutes"], me["reminder_channels"]) == (60, ["slack"])


def test_profile_reminders_fit_a_phone(phone: Page, live_server: LiveServer, carol_reminders_put_back: None) -> None:
    log_in(phone, live_server, CAROL)
    phone.goto(live_server.url + "/ws/demo/profile/")
    section = _reminders(phone)
    section.scroll_into_view_if_needed()
    _fits(phone, "profile")
    _shot(phone, "profile-reminders-phone")
    # With the refusal shown as well.
    section.get_by_label("Remind me").select_option(label="1 day before")
    for name in ("Slack DM", "SMS"):
        section.get_by_label(name).uncheck()
    section.get_by_role("button", name="Save").click()
    expect(_reminders(phone).locator("#reminder_channels-error")).to_be_visible()
    _fits(phone, "profile with the reminder error")
    _shot(phone, "profile-reminders-error-phone")
