"""A refused change in a dialog says why, in the dialog (issue 17): a slot edit that ends before it
starts, a hand-off in the past, removing an override someone else already removed, accepting a swap
that became void. And one request per board refresh on the On-call page."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, Request, expect

from e2e.conftest import LiveServer, api_call, log_in

LOCAL_INPUT = "%Y-%m-%dT%H:%M"
SHOTS = Path(__file__).resolve().parents[1] / "test-results"


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def schedule(live_server: LiveServer) -> Iterator[dict[str, Any]]:
    """A schedule of its own (Alice and Dave, daily; Carol the backup), so other tests' data stays put."""
    now = datetime.datetime.now(datetime.UTC)
    created = api_call(
        live_server,
        "POST",
        "/schedules",
        {
            "name": f"Dialogs {uuid.uuid4().hex[:6]}",
            "rotation": "daily",
            "timezone": "UTC",
            "handoff_time": "00:00",
            "starts_at": _iso(now - datetime.timedelta(hours=1)),
            "members": ["alice@example.com", "dave@example.com"],
            "escalation_to": "carol@example.com",
        },
    )
    yield created
    api_call(live_server, "DELETE", f"/schedules/{created['id']}")


def slots(server: LiveServer, schedule_id: str, days: int = 6) -> list[dict[str, Any]]:
    now = datetime.datetime.now(datetime.UTC)
    window = f"start={_iso(now)}&end={_iso(now + datetime.timedelta(days=days))}"
    return list(api_call(server, "GET", f"/schedules/{schedule_id}/slots?{window}"))


def later_slot(server: LiveServer, schedule_id: str, email: str) -> dict[str, Any]:
    """A slot of `email` that has not started."""
    now = datetime.datetime.now(datetime.UTC)
    return next(
        s
        for s in slots(server, schedule_id)
        if s["user"]["email"] == email and datetime.datetime.fromisoformat(s["start"]) > now
    )


def open_slot_dialog(page: Page, server: LiveServer, schedule_id: str, slot_id: str) -> Any:
    page.goto(f"{server.url}/ws/demo/oncall/schedules/{schedule_id}?weeks=2")
    page.locator(f"tr[data-slot-id='{slot_id}'] td.edit a").click()
    dialog = page.locator("#dialog dialog")
    expect(dialog).to_be_visible()
    return dialog


def read_when(dialog: Any, field_id: str) -> str:
    """A moment from a date field and its 24-hour time field, as YYYY-MM-DDTHH:MM."""
    return f"{dialog.locator('#' + field_id).input_value()}T{dialog.locator('#' + field_id + '-time').input_value()}"


def fill_when(dialog: Any, field_id: str, value: str) -> None:
    dialog.locator("#" + field_id).fill(value[:10])
    dialog.locator("#" + field_id + "-time").fill(value[11:16])


def shift(value: str, **delta: float) -> str:
    return (datetime.datetime.fromisoformat(value) + datetime.timedelta(**delta)).strftime(LOCAL_INPUT)


def test_slot_edit_ending_before_it_starts_says_why_in_the_dialog(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    slot = later_slot(live_server, schedule["id"], "dave@example.com")
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, "admin@example.com")
    dialog = open_slot_dialog(page, live_server, schedule["id"], slot["id"])
    page.evaluate("window.__same_page = true")
    start = read_when(dialog, "slot-start")
    fill_when(dialog, "slot-end", shift(start, hours=-2))
    dialog.get_by_role("button", name="Save override").click()
    error = page.locator("#dialog dialog .error[role=alert]")
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile(r"end|after|before", re.I))
    expect(page.locator("#dialog dialog")).to_have_count(1)  # still the one dialog, not a page in it
    expect(page.locator("#dialog h1")).to_have_count(0)
    assert page.evaluate("window.__same_page") is True
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "dialog-error-slot-390.png"))
    box = page.locator("#dialog dialog").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Nothing changed.
    assert later_slot(live_server, schedule["id"], "dave@example.com")["id"] == slot["id"]


def test_hand_off_in_the_past_says_why_in_the_dialog(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    log_in(page, live_server, "admin@example.com")
    page.goto(f"{live_server.url}/ws/demo/oncall/schedules/{schedule['id']}")
    before = api_call(live_server, "GET", f"/schedules/{schedule['id']}/oncall")["slot"]
    page.get_by_role("link", name="Hand off").click()
    dialog = page.locator("#dialog dialog")
    dialog.get_by_label("Hand off to").select_option("bob@example.com")
    at = read_when(dialog, "handoff-at")
    fill_when(dialog, "handoff-at", shift(at, days=-2))
    dialog.get_by_role("button", name="Hand off").click()
    error = page.locator("#dialog dialog #handoff-at-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile(r"past|passed|already|before", re.I))
    expect(page.locator("#dialog dialog").get_by_label("Hand off to")).to_have_value("bob@example.com")
    after = api_call(live_server, "GET", f"/schedules/{schedule['id']}/oncall")["slot"]
    assert after == before

    # And no person at all: "Pick who takes over."
    page.locator("#dialog dialog").get_by_label("Hand off to").select_option("")
    fill_when(page.locator("#dialog dialog"), "handoff-at", at)
    page.locator("#dialog dialog").get_by_role("button", name="Hand off").click()
    expect(page.locator("#dialog dialog #handoff-to-error")).to_have_text("Pick who takes over.")


def test_removing_an_override_someone_else_removed_says_so_in_the_dialog(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    slot = later_slot(live_server, schedule["id"], "alice@example.com")
    override = api_call(live_server, "PATCH", f"/slots/{slot['id']}", {"user": "bob@example.com"})
    assert override["is_override"] is True
    log_in(page, live_server, "admin@example.com")
    dialog = open_slot_dialog(page, live_server, schedule["id"], override["id"])
    remove = dialog.get_by_role("button", name="Remove override")
    expect(remove).to_be_visible()
    api_call(live_server, "DELETE", f"/slots/{override['id']}")  # meanwhile, elsewhere
    remove.click()
    shown = page.locator("#dialog dialog")
    expect(shown.locator(".dialog-error")).to_be_visible()
    expect(shown).to_contain_text("No such slot")
    expect(page.locator("#dialog h1")).to_contain_text("404")
    shown.get_by_role("button", name="Close").click()
    expect(page.locator("#dialog dialog")).to_be_hidden()


def void_swap_offered_to_dave(page: Page, server: LiveServer, schedule_id: str) -> tuple[Any, dict[str, Any]]:
    """Alice proposes trading her slot for Dave's; Dave opens the On-call page; then an admin moves
    the end of Alice's slot, so the swap no longer describes it. Dave's swap row and Dave's slot."""
    mine = later_slot(server, schedule_id, "alice@example.com")
    theirs = later_slot(server, schedule_id, "dave@example.com")
    log_in(page, server, "alice@example.com")
    page.goto(f"{server.url}/ws/demo/oncall/")
    page.get_by_label("Give one of my slots").select_option(mine["id"])
    page.locator("#swap-person").select_option("dave@example.com")
    zone = re.search(r"the day of their slot, ([^)]+)\)", page.locator("label[for=swap-day]").inner_text())
    assert zone is not None
    page.locator("#swap-day").fill(
        datetime.datetime.fromisoformat(theirs["start"]).astimezone(ZoneInfo(zone.group(1))).date().isoformat()
    )
    page.get_by_role("button", name="Propose swap").click()
    proposed = page.locator("li.swap.pending", has_text="Dave Diaz")
    expect(proposed).to_have_count(1)
    swap_id = proposed.get_attribute("data-swap")

    log_in(page, server, "dave@example.com")
    page.goto(f"{server.url}/ws/demo/oncall/")
    row = page.locator(f"li.swap[data-swap='{swap_id}']")
    expect(row.get_by_role("button", name="Accept")).to_be_visible()
    end = datetime.datetime.fromisoformat(mine["end"]) - datetime.timedelta(hours=1)
    api_call(server, "PATCH", f"/slots/{mine['id']}", {"end": _iso(end)})
    return row, theirs


def test_accepting_a_swap_that_became_void_says_so_in_the_dialog(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    row, theirs = void_swap_offered_to_dave(page, live_server, schedule["id"])
    row.get_by_role("button", name="Accept").click()
    shown = page.locator("#dialog dialog")
    expect(shown).to_be_visible()
    expect(shown.locator(".dialog-error")).to_contain_text("void")
    expect(shown.locator(".dialog-error")).to_contain_text("409")
    page.screenshot(path=str(SHOTS / "dialog-error-swap.png"))
    after = {s["id"]: s["user"]["email"] for s in slots(live_server, schedule["id"])}
    assert after.get(theirs["id"]) == "dave@example.com"  # nothing traded


def test_a_void_swap_is_no_longer_offered_after_the_409(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    row, _ = void_swap_offered_to_dave(page, live_server, schedule["id"])
    row.get_by_role("button", name="Accept").click()
    expect(page.locator("#dialog dialog .dialog-error")).to_contain_text("void")
    expect(row).to_have_class(re.compile(r"\bvoid\b"), timeout=5_000)
    expect(row.get_by_role("button", name="Accept")).to_have_count(0)


def test_one_request_per_board_refresh(page: Page, live_server: LiveServer) -> None:
    log_in(page, live_server, "viewer@example.com")
    page.goto(f"{live_server.url}/ws/demo/oncall/")
    expect(page.locator("#oncall-poller")).to_have_count(1)
    seen: list[str] = []

    def record(request: Request) -> None:
        if request.method == "GET" and "/ws/demo/oncall/" in request.url:
            seen.append(request.url)

    page.on("request", record)
    # The poller fires at the next hand-off, at most 30 s away.
    with page.expect_response(lambda r: "live=board" in r.url, timeout=40_000) as answer:
        pass
    assert answer.value.status == 200
    page.wait_for_timeout(1500)  # anything else the refresh sets off would have left by now
    assert len(seen) == 1, seen
    assert "live=board" in seen[0]
    # The refreshed parts are still there, once each, and the poller armed again.
    for part in ("#oncall-poller", "#oncall-highlight", "#oncall-rows", "#oncall-handoffs"):
        expect(page.locator(part)).to_have_count(1)


def test_one_request_per_refresh_after_a_change(page: Page, live_server: LiveServer) -> None:
    log_in(page, live_server, "bob@example.com")
    page.goto(f"{live_server.url}/ws/demo/oncall/")
    expect(page.locator("#oncall-poller")).to_have_count(1)
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.method == "GET" and "/ws/demo/oncall/" in r.url else None)
    # What a saved dialog answers with (HX-Trigger: oncall-changed), without changing anything.
    page.evaluate("document.body.dispatchEvent(new CustomEvent('oncall-changed', {bubbles: true}))")
    page.wait_for_timeout(2000)
    assert len(seen) == 1, seen
