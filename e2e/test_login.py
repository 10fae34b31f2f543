"""A person logs in to the demo workspace through Chromium, and out again."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.conftest import DEMO_PASSWORD, LiveServer


def test_demo_owner_logs_in_sees_home_and_logs_out(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ws/demo/?$"))
    expect(page.get_by_role("heading", name="Demo")).to_be_visible()
    nav = page.get_by_role("navigation", name="Workspace")
    for label in ("Home", "People", "On-call", "Incidents", "Settings"):
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(live_server.url + "/ws/demo/")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_wrong_password_shows_an_error_and_no_session(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("That email and password do not match an account.")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies.get("vigilo_session", "null") == "null"
    page.goto(live_server.url + "/ws/demo/")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_people_page_lists_the_demo_team(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill("viewer@example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="People").click()
    for email in ("admin@example.com", "alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"):
        expect(page.get_by_role("cell", name=email)).to_be_visible()
    expect(page.get_by_role("heading", name="Add a person")).to_have_count(0)
