"""The Content-Security-Policy in a real browser: everything we ship works under it, and nothing is blocked."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

from e2e.conftest import LiveServer, api_call, log_in


def watch_policy(page: Page) -> list[str]:
    """Violations the browser reports (console errors and securitypolicyviolation events)."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " e => console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    return violations


def test_the_board_a_dialog_and_a_confirmed_delete_run_under_the_policy(page: Page, live_server: LiveServer) -> None:
    violations = watch_policy(page)
    name = f"Doomed {uuid.uuid4().hex[:6]}"
    created: dict[str, Any] = api_call(
        live_server,
        "POST",
        "/schedules",
        {
            "name": name,
            "rotation": "daily",
            "timezone": "UTC",
            "handoff_time": "09:00",
            "members": ["alice@example.com", "bob@example.com"],
        },
    )
    log_in(page, live_server, "admin@example.com")
    page.goto(f"{live_server.url}/ws/demo/oncall/")
    expect(page.locator("#oncall-highlight")).to_be_visible()
    page.goto(f"{live_server.url}/ws/demo/oncall/schedules/{created['id']}")
    page.locator("tr.slot.now td.edit a").click()  # an HTMX dialog, swapped in by htmx under the policy
    expect(page.get_by_role("dialog")).to_be_visible()
    page.goto(f"{live_server.url}/ws/demo/oncall/schedules/{created['id']}")

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()  # "Cancel" keeps it
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name=name)).to_have_count(0)
    assert name not in [s["name"] for s in api_call(live_server, "GET", "/schedules")]
    assert violations == []
