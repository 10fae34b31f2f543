"""With the On-call page open, a change made elsewhere (the API) shows up without a reload."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from playwright.sync_api import Page, expect

from e2e.conftest import DEMO_PASSWORD, LiveServer


def api(server: LiveServer, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{server.url}/api/v1/ws/demo{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def test_highlight_follows_an_api_change_without_reload(page: Page, live_server: LiveServer) -> None:
    token = (
        live_server.vigilo("create-token", "--workspace", "demo", "--email", "admin@example.com")
        .strip()
        .splitlines()[-1]
    )
    schedules = {s["name"]: s for s in api(live_server, token, "GET", "/schedules")}
    platform = schedules["Platform — primary"]
    before = api(live_server, token, "GET", f"/schedules/{platform['id']}/oncall")["primary"]["display_name"]
    after_email = next(m["email"] for m in platform["members"] if m["display_name"] != before)
    after = next(m["display_name"] for m in platform["members"] if m["email"] == after_email)

    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill("viewer@example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + "/ws/demo/oncall/")
    card = page.locator("#oncall-highlight li", has_text="Platform — primary")
    expect(card.locator(".person")).to_have_text(before)
    page.evaluate("window.__same_page = true")

    api(live_server, token, "PATCH", f"/schedules/{platform['id']}", {"members": [after_email]})
    api(live_server, token, "POST", f"/schedules/{platform['id']}/regenerate", {})

    expect(card.locator(".person")).to_have_text(after, timeout=35_000)
    assert page.evaluate("window.__same_page") is True  # no reload happened
    expect(page).to_have_url(re.compile(r"/ws/demo/oncall/?$"))
