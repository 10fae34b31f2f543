"""Escalation policies in a browser: an admin builds one with the form (a bad delay is shown beside its
field, steps move up), an incident declared through it shows its chain, "Escalate now" fires the next
step, and the pages fit a phone."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from e2e.conftest import LiveServer, api_call, log_in
from e2e.test_phone_width import PHONE, _fits

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def test_an_admin_builds_a_policy_and_an_incident_runs_it(page: Page, live_server: LiveServer) -> None:
    log_in(page, live_server, "admin@example.com")
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Escalation").click()
    expect(page.get_by_role("heading", name="Escalation policies")).to_be_visible()
    page.get_by_role("link", name="New policy").click()
    name = f"Night chain {uuid.uuid4().hex[:4]}"
    page.get_by_label("Name").fill(name)
    page.locator("#step_0_targets").select_option(label="Database — primary")
    page.locator("#step_0_delay").fill("0")
    page.get_by_role("button", name="Add a step").click()
    expect(page.locator("#step-1")).to_be_visible()
    page.locator("#step_1_targets").select_option(label="Bob Baker (bob@example.com)")
    page.locator("#step_1_delay").fill("20")
    page.get_by_role("button", name="Create policy").click()
    # Nothing saved: the delay's own message sits beside it, and what was typed is kept.
    expect(page.locator("#step_0_delay-error")).to_have_text("Wait 1 to 1440 minutes before the next step.")
    expect(page.locator("#step_0_delay")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_have_value(name)
    page.locator("#step_0_delay").fill("5")
    # Bob first, then the database's on-call.
    page.get_by_role("button", name="Move step 2 up").click()
    expect(page.locator("#step_0_targets option:checked")).to_have_text("Bob Baker (bob@example.com)")
    page.get_by_role("button", name="Create policy").click()
    card = page.locator("li.card", has_text=name)
    expect(card).to_contain_text("Bob Baker")
    expect(card).to_contain_text("On call: Database — primary")

    policy = next(p for p in api_call(live_server, "GET", "/escalation-policies") if p["name"] == name)
    schedules = api_call(live_server, "GET", "/schedules")
    incident = api_call(
        live_server,
        "POST",
        "/incidents",
        {
            "title": "Replication lag",
            "severity": "SEV2",
            "schedule_id": schedules[0]["id"],
            "escalation_policy_id": policy["id"],
        },
    )
    assert [(p["user"]["email"], p["step"], p["round"]) for p in incident["pages"]] == [("bob@example.com", 0, 0)]
    page.goto(f"{live_server.url}/ws/demo/incidents/{incident['id']}")
    chain = page.locator("#chain")
    expect(chain).to_contain_text(f"Policy {name}")
    expect(page.locator("#next-step")).to_contain_text(
        re.compile(r"Escalates in \d+ min \(\d\d:\d\d\) to whoever is on call for Database — primary")
    )
    page.get_by_role("button", name="Escalate now").click()
    expect(page.locator("ol.timeline")).to_contain_text("Ada Admin escalated now.")
    expect(chain.locator("li[aria-current=step]")).to_contain_text("Database — primary")
    expect(page.locator("ol.timeline")).to_contain_text(re.compile(r"Paging .+ \(on call for Database — primary\)"))


def test_policy_pages_fit_a_phone(browser: Browser, live_server: LiveServer) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    page = context.new_page()
    log_in(page, live_server, "admin@example.com")
    policy = next(p for p in api_call(live_server, "GET", "/escalation-policies"))
    incident = api_call(
        live_server,
        "POST",
        "/incidents",
        {"title": "Phone chain", "severity": "SEV3", "escalation_policy_id": policy["id"]},
    )
    for label, path in (
        ("policies", "/ws/demo/escalation-policies/"),
        ("policy-edit", f"/ws/demo/escalation-policies/{policy['id']}"),
        ("incident-policy", f"/ws/demo/incidents/{incident['id']}"),
    ):
        page.goto(live_server.url + path)
        expect(page.locator("h1").first).to_be_visible()
        _fits(page, label)
        page.screenshot(path=str(ARTIFACTS / f"{label}-phone.png"), full_page=True)
    context.close()
