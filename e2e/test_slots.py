"""Everyday edits in Chromium: an override from the calendar, a hand-off dialog with Slack DMs,
a viewer without edit controls, and a swap traded between two members."""

from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from e2e.conftest import LiveServer, api_call, log_in
from tests.fakes.servers import FakeServer

NAMES = {
    "alice@example.com": "Alice Archer",
    "bob@example.com": "Bob Baker",
    "carol@example.com": "Carol Chen",
    "dave@example.com": "Dave Diaz",
}


def schedule_id(server: LiveServer, name: str) -> str:
    return next(s["id"] for s in api_call(server, "GET", "/schedules") if s["name"] == name)


def test_admin_overrides_the_current_slot_and_the_highlight_follows(page: Page, live_server: LiveServer) -> None:
    sid = schedule_id(live_server, "Database — primary")
    current = api_call(live_server, "GET", f"/schedules/{sid}/oncall")["primary"]["email"]
    newcomer = next(email for email in NAMES if email != current)
    log_in(page, live_server, "admin@example.com")
    page.goto(f"{live_server.url}/ws/demo/oncall/schedules/{sid}")
    card = page.locator("#schedule-status .you")  # the schedule page is about its own schedule
    expect(card).to_contain_text(NAMES[current])
    page.evaluate("window.__same_page = true")
    page.locator("tr.slot.now td.edit a").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Who is on call").select_option(newcomer)
    dialog.get_by_role("button", name="Save override").click()
    expect(card).to_contain_text(NAMES[newcomer])
    expect(page.locator("tr.slot.now td.who")).to_have_text(NAMES[newcomer])
    expect(page.locator("tr.slot.now .badge", has_text="override")).to_be_visible()
    assert page.evaluate("window.__same_page") is True


def test_member_hands_off_their_shift_and_both_get_a_dm(
    page: Page, live_server: LiveServer, slack_fake: FakeServer
) -> None:
    sid = schedule_id(live_server, "Platform — primary")
    holder = api_call(live_server, "GET", f"/schedules/{sid}/oncall")["primary"]["email"]
    if holder == "admin@example.com" or holder not in NAMES:  # keep the test about a role member
        holder = "alice@example.com"
        api_call(live_server, "POST", f"/schedules/{sid}/handoff", {"to": holder})
    receiver = next(email for email in NAMES if email != holder)
    posted_before = len(slack_fake.calls("chat.postMessage"))
    log_in(page, live_server, holder)
    page.goto(f"{live_server.url}/ws/demo/oncall/schedules/{sid}")
    page.get_by_role("link", name="Hand off").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Hand off to").select_option(receiver)
    dialog.get_by_role("button", name="Hand off").click()
    expect(page.locator("tr.slot.now td.who")).to_have_text(NAMES[receiver])
    expect(page.locator("#schedule-status .you")).to_contain_text(NAMES[receiver])
    deadline = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=15)
    while (
        len(slack_fake.calls("chat.postMessage")) < posted_before + 2 and datetime.datetime.now(datetime.UTC) < deadline
    ):
        page.wait_for_timeout(200)
    texts = [c.params["text"] for c in slack_fake.calls("chat.postMessage")[posted_before:]]
    opened = {c.params["users"] for c in slack_fake.calls("conversations.open")}
    assert any(text.startswith("You take over Platform") for text in texts), texts
    assert any(text.startswith("You handed Platform") for text in texts), texts
    assert {"U0DEMO" + x for x in ("ALIC", "BOB1", "CARL", "DAVE")} & opened


def test_viewer_sees_no_edit_controls_and_a_forged_post_is_refused(page: Page, live_server: LiveServer) -> None:
    sid = schedule_id(live_server, "Platform — primary")
    slot = api_call(live_server, "GET", f"/schedules/{sid}/oncall")["slot"]["id"]
    log_in(page, live_server, "viewer@example.com")
    page.goto(f"{live_server.url}/ws/demo/oncall/schedules/{sid}")
    expect(page.locator("td.edit")).to_have_count(0)
    expect(page.get_by_role("link", name="Hand off")).to_have_count(0)
    token = page.locator("input[name=_csrf_token]").first.get_attribute("value")
    response = page.request.post(
        f"{live_server.url}/ws/demo/oncall/slots/{slot}",
        form={"user": "viewer@example.com", "start": "", "end": "", "_csrf_token": token or ""},
    )
    assert response.status == 403
    assert api_call(live_server, "GET", f"/schedules/{sid}/oncall")["slot"]["id"] == slot


def test_members_trade_slots_through_a_swap(page: Page, live_server: LiveServer) -> None:
    sid = schedule_id(live_server, "Database — primary")
    now = datetime.datetime.now(datetime.UTC)
    slots = api_call(
        live_server,
        "GET",
        f"/schedules/{sid}/slots?start={(now + datetime.timedelta(days=2)).isoformat().replace('+00:00', 'Z')}&end={(now + datetime.timedelta(days=12)).isoformat().replace('+00:00', 'Z')}",
    )
    carol = next(s for s in slots if s["user"]["email"] == "carol@example.com")
    bob = next(s for s in slots if s["user"]["email"] == "bob@example.com")
    log_in(page, live_server, "carol@example.com")
    page.goto(f"{live_server.url}/ws/demo/oncall/")
    page.get_by_label("Give one of my slots").select_option(carol["id"])
    page.get_by_label("For a slot of").select_option("bob@example.com")
    zone = re.search(r"the day of their slot, ([^)]+)\)", page.locator("label[for=swap-day]").inner_text())
    assert zone is not None
    day = datetime.datetime.fromisoformat(bob["start"]).astimezone(ZoneInfo(zone.group(1))).date()
    page.locator("#swap-day").fill(day.isoformat())
    page.get_by_role("button", name="Propose swap").click()
    expect(page.locator("li.swap.pending")).to_have_count(1)

    log_in(page, live_server, "bob@example.com")
    page.goto(f"{live_server.url}/ws/demo/oncall/")
    page.locator("li.swap.pending").get_by_role("button", name="Accept").click()
    expect(page.locator("li.swap.accepted")).to_have_count(1)
    after = {
        s["start"]: s
        for s in api_call(
            live_server,
            "GET",
            f"/schedules/{sid}/slots?start={carol['start'].replace('+00:00', 'Z')}&end={bob['end'].replace('+00:00', 'Z')}",
        )
    }
    assert (after[carol["start"]]["user"]["email"], after[carol["start"]]["is_override"]) == ("bob@example.com", True)
    assert (after[bob["start"]]["user"]["email"], after[bob["start"]]["is_override"]) == ("carol@example.com", True)
