"""Declaring an incident from the web pages the primary, and the page shows in the timeline."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from e2e.conftest import LiveServer, log_in


def test_declare_from_the_web_and_see_the_page_in_the_timeline(page: Page, live_server: LiveServer) -> None:
    log_in(page, live_server, "alice@example.com")
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Incidents").click()
    title = f"Checkout errors {uuid.uuid4().hex[:4]}"
    page.get_by_label("What is wrong").fill(title)
    page.get_by_label("Severity").select_option("SEV1")
    page.get_by_label("Page the on-call of").select_option(label="Platform — primary")
    page.get_by_role("button", name="Declare and page").click()
    expect(page.get_by_role("heading", name=re.compile(rf"INC-\d+ · {title}"))).to_be_visible()
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("declared INC-")
    expect(timeline.locator("li[data-kind=paged]")).to_contain_text(
        re.compile(r"Paging .+ \((primary|backup)\) by Slack and SMS")
    )
    expect(page.locator("ul.pages li").first).to_contain_text("pending")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("#incident-status")).to_have_text("resolved")
    expect(timeline).to_contain_text("pending page cancelled")
