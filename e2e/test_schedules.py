"""An admin builds a weekly rotation through the form in Chromium and reads it back on the calendar."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from e2e.conftest import LiveServer, log_in


def test_admin_creates_a_weekly_schedule_and_sees_eight_weeks_in_order(page: Page, live_server: LiveServer) -> None:
    log_in(page, live_server, "admin@example.com")
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="On-call").click()
    page.get_by_role("link", name="New schedule").click()
    name = f"Edge — primary {uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Cadence").select_option("weekly")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Hand-off time").fill("10:00")
    page.get_by_label("Hand-off weekday").select_option("Wednesday")
    page.get_by_label("Person 1", exact=True).select_option("carol@example.com")
    page.get_by_label("Person 2", exact=True).select_option("alice@example.com")
    page.get_by_label("Person 3", exact=True).select_option("dave@example.com")
    page.get_by_label("Backup").select_option("bob@example.com")
    page.get_by_role("button", name="Create schedule").click()

    expect(page.get_by_role("heading", name=name)).to_be_visible()
    page.get_by_role("link", name="8 weeks").click()
    expect(page.get_by_role("heading", name=re.compile("^Week of")).nth(7)).to_be_visible()
    holders = page.locator("td.who").all_inner_texts()
    assert len(holders) >= 8
    expected = ["Carol Chen", "Alice Archer", "Dave Diaz"]
    assert holders == [expected[i % 3] for i in range(len(holders))]
    for cell in page.locator("tr.slot td:nth-child(2)").all_inner_texts()[1:]:
        assert cell.startswith("Wed")
        assert cell.endswith("10:00")
    expect(page.locator("tr.slot.now")).to_have_count(1)


def test_a_bad_time_zone_is_shown_beside_the_field(page: Page, live_server: LiveServer) -> None:
    log_in(page, live_server, "admin@example.com")
    page.goto(live_server.url + "/ws/demo/oncall/schedules/new")
    page.get_by_label("Name").fill("Broken zone")
    page.get_by_label("Time zone").fill("Europe/Atlantis")
    page.get_by_label("Person 1", exact=True).select_option("alice@example.com")
    page.get_by_role("button", name="Create schedule").click()
    error = page.locator("#timezone-error")
    expect(error).to_have_text(re.compile("Europe/Atlantis is not an IANA time zone"))
    expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_have_value("Broken zone")
