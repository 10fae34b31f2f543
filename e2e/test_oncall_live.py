"""With the On-call page open, a change made elsewhere (the API) shows up without a reload."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.conftest import LiveServer, api_call, log_in


def test_highlight_follows_an_api_change_without_reload(page: Page, live_server: LiveServer) -> None:
    (live_server.vigilo("create-token", "--workspace", "demo", "--email", "admin@example.com").strip().splitlines()[-1])
    schedules = {s["name"]: s for s in api_call(live_server, "GET", "/schedules")}
    platform = schedules["Platform — primary"]
    before = api_call(live_server, "GET", f"/schedules/{platform['id']}/oncall")["primary"]["display_name"]
    after_email = next(m["email"] for m in platform["members"] if m["display_name"] != before)
    after = next(m["display_name"] for m in platform["members"] if m["email"] == after_email)

    log_in(page, live_server, "viewer@example.com")
    page.goto(live_server.url + "/ws/demo/oncall/")
    card = page.locator("#oncall-highlight li", has_text="Platform — primary")
    expect(card.locator(".person")).to_have_text(before)
    page.evaluate("window.__same_page = true")

    api_call(live_server, "PATCH", f"/schedules/{platform['id']}", {"members": [after_email]})
    api_call(live_server, "POST", f"/schedules/{platform['id']}/regenerate", {})

    expect(card.locator(".person")).to_have_text(after, timeout=35_000)
    assert page.evaluate("window.__same_page") is True  # no reload happened
    expect(page).to_have_url(re.compile(r"/ws/demo/oncall/?$"))
