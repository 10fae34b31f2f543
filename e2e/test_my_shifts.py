"""My shifts, the timeline and calendar feeds in Chromium, as Alice (a role member of the demo).

The tests share one schedule of their own (so the demo's schedules stay as other tests expect them):
a daily rotation of Alice and Dave in Europe/Berlin that starts tomorrow, so the timeline opens with a
gap (nobody on call) until its first slot, and one of Dave's days is handed to Alice by an override.
Screenshots go under e2e/artifacts/ with the other pages'."""

from __future__ import annotations

import datetime
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect

from e2e.conftest import OVERLAPS, LiveServer, api_call, log_in

ALICE = "alice@example.com"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # as e2e/test_phone_width.py
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
BERLIN = ZoneInfo("Europe/Berlin")
# The page's own format for a shift's From and Until (oncall/my_shifts.html).
ROW_FORMAT = "%a %d %b %Y %H:%M"
DASH = "\u2013"  # between a bar's start and end (oncall/_timeline.html)


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def _parse(raw: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def schedule(live_server: LiveServer) -> Iterator[dict[str, Any]]:
    """Alice and Dave, daily from tomorrow 09:00 in Berlin; Dave's first day is Alice's by an override."""
    now = datetime.datetime.now(datetime.UTC)
    tomorrow = (now.astimezone(BERLIN) + datetime.timedelta(days=1)).date()
    first = datetime.datetime.combine(tomorrow, datetime.time(9), tzinfo=BERLIN)
    created = api_call(
        live_server,
        "POST",
        "/schedules",
        {
            "name": f"Timeline {uuid.uuid4().hex[:6]}",
            "rotation": "daily",
            "timezone": "Europe/Berlin",
            "handoff_time": "09:00",
            "starts_at": _iso(first),
            "members": [ALICE, "dave@example.com"],
            "escalation_to": "carol@example.com",
        },
    )
    window = f"start={_iso(now)}&end={_iso(now + datetime.timedelta(days=10))}"
    slots = api_call(live_server, "GET", f"/schedules/{created['id']}/slots?{window}")
    daves = [s for s in slots if s["user"]["email"] == "dave@example.com"]
    assert daves, slots
    taken = api_call(live_server, "PATCH", f"/slots/{daves[0]['id']}", {"user": ALICE})
    created["override"] = taken
    created["first_start"] = _parse(slots[0]["start"])
    yield created
    api_call(live_server, "DELETE", f"/schedules/{created['id']}")


def my_shifts_api(server: LiveServer) -> list[dict[str, Any]]:
    """Alice's shifts through the API, from now to well past every horizon."""
    now = datetime.datetime.now(datetime.UTC)
    window = f"start={_iso(now)}&end={_iso(now + datetime.timedelta(days=399))}"
    return list(api_call(server, "GET", f"/me/shifts?{window}", as_email=ALICE))


def row_of(page: Page, schedule: dict[str, Any]) -> Locator:
    """The first row of My shifts on `schedule`."""
    return page.locator("#my-shifts tbody tr", has=page.get_by_role("link", name=schedule["name"], exact=True)).first


def tip(bar: Locator) -> str:
    """What the bar shows beside it (its ::after), unquoted; 'none' when nothing is shown."""
    content = bar.evaluate("el => getComputedStyle(el, '::after').content")
    return str(content)[1:-1] if content.startswith('"') else str(content)


def lane(page: Page, name: str) -> Locator:
    return page.locator("#timeline .tl-row", has=page.locator(".tl-label", has_text=name))


# ---------------------------------------------------------------- My shifts


def test_my_shifts_is_in_the_navigation_and_on_the_home_page(page: Page, live_server: LiveServer) -> None:
    log_in(page, live_server, ALICE)
    expect(page.locator("main").get_by_role("link", name="My shifts")).to_be_visible()  # the home page's tile
    nav = page.get_by_role("navigation").get_by_role("link", name="My shifts")
    nav.click()
    expect(page).to_have_url(re.compile(r"/ws/demo/my-shifts/$"))
    expect(page.get_by_role("heading", name="My shifts", level=1)).to_be_visible()
    expect(page.get_by_role("navigation").get_by_role("link", name="My shifts")).to_have_attribute(
        "aria-current", "page"
    )


def test_my_shifts_lists_the_same_shifts_as_the_api_with_actions(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/my-shifts/")
    rows = page.locator("#my-shifts tbody tr")
    expected = my_shifts_api(live_server)
    assert expected, "Alice holds no shifts"
    expect(rows).to_have_count(len(expected))
    shown = [
        (
            row.locator("td[data-label=Schedule] a").inner_text(),
            row.locator("td[data-label=From]").inner_text(),
            row.locator("td[data-label=Until]").inner_text(),
            row.locator("td[data-label=Schedule] .badge", has_text="override").count() == 1,
        )
        for row in rows.all()
    ]
    wanted = [
        (
            s["schedule"]["name"],
            _parse(s["start"]).astimezone(BERLIN).strftime(ROW_FORMAT),
            _parse(s["end"]).astimezone(BERLIN).strftime(ROW_FORMAT),
            s["is_override"],
        )
        for s in expected
    ]
    assert shown == wanted
    for row in rows.all():
        expect(row.get_by_role("link", name=re.compile(r"^Hand off "))).to_be_visible()
        expect(row.get_by_role("link", name=re.compile(r"^Offer a swap "))).to_be_visible()
    # Her first shift on the new schedule starts after a gap and, joined with Dave's day taken over
    # and her next day, is an override in part; her next one takes over from Dave.
    mine = page.locator("#my-shifts tbody tr", has=page.get_by_role("link", name=schedule["name"], exact=True))
    expect(mine.first.locator("td[data-label='Taking over from']")).to_have_text("nobody (a gap before it)")
    expect(mine.first.locator(".badge", has_text="override")).to_be_visible()
    expect(mine.nth(1).locator("td[data-label='Taking over from']")).to_have_text("Dave Diaz")
    expect(mine.nth(1).locator(".badge", has_text="override")).to_have_count(0)
    assert "Europe/Berlin" in page.locator("p.summary").inner_text()


def test_hand_off_opens_the_dialog_of_the_shifts_first_slot(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/my-shifts/")
    page.evaluate("window.__same_page = true")
    row = row_of(page, schedule)
    expect(row.locator("td[data-label=From]")).to_have_text(
        schedule["first_start"].astimezone(BERLIN).strftime(ROW_FORMAT)
    )
    row.get_by_role("link", name=re.compile(r"^Hand off ")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text(f"Edit slot · {schedule['name']}")
    expect(dialog.locator("p.hint")).to_contain_text("Alice Archer")
    start = schedule["first_start"].astimezone(BERLIN)
    expect(dialog.locator("#slot-start")).to_have_value(start.strftime("%Y-%m-%d"))
    expect(dialog.locator("#slot-start-time")).to_have_value(start.strftime("%H:%M"))
    assert page.evaluate("window.__same_page") is True  # opened in place, not a new page
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()


def test_offer_swap_lands_on_the_swap_form_with_that_slot_chosen(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/my-shifts/")
    offer = row_of(page, schedule).get_by_role("link", name=re.compile(r"^Offer a swap "))
    href = offer.get_attribute("href") or ""
    slot_id = re.fullmatch(r"/ws/demo/oncall/\?offer=([0-9a-f-]{36})#oncall-swaps", href)
    assert slot_id, href
    offer.click()
    expect(page).to_have_url(re.compile(r"/ws/demo/oncall/\?offer=" + slot_id.group(1) + "#oncall-swaps$"))
    mine = page.locator("#swap-mine")
    expect(mine).to_have_value(slot_id.group(1))
    assert mine.locator("option:checked").inner_text().startswith(schedule["name"])
    expect(page.locator("#oncall-swaps")).to_be_in_viewport()


def test_offer_swap_on_each_upcoming_shift_chooses_its_slot(page: Page, live_server: LiveServer) -> None:
    """Every shift that has not started yet can be offered from My shifts (one that has started is no
    longer the person's to give, as the swap form says)."""
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/my-shifts/")
    now = datetime.datetime.now(datetime.UTC)
    hrefs = [
        row.get_by_role("link", name=re.compile(r"^Offer a swap ")).get_attribute("href") or ""
        for row, shift in zip(page.locator("#my-shifts tbody tr").all(), my_shifts_api(live_server), strict=True)
        if _parse(shift["start"]) > now and _parse(shift["start"]) < now + datetime.timedelta(weeks=8)
    ]
    assert hrefs
    page.goto(f"{live_server.url}/ws/demo/oncall/")
    offered = set(page.locator("#swap-mine option").evaluate_all("options => options.map(o => o.value)"))
    missing = [h for h in hrefs if h.split("offer=")[1].split("#")[0] not in offered]
    assert not missing, f"My shifts offers slots the swap form does not list: {missing}"


def test_offer_swap_on_the_shift_running_now(page: Page, live_server: LiveServer) -> None:
    """A shift that has begun is offered too (My shifts shows the button): the swap form must then have
    that shift's slot chosen, not silently another one."""
    now = datetime.datetime.now(datetime.UTC)
    running = api_call(
        live_server,
        "POST",
        "/schedules",
        {
            "name": f"Running {uuid.uuid4().hex[:6]}",
            "rotation": "daily",
            "timezone": "UTC",
            "handoff_time": (now - datetime.timedelta(hours=1)).strftime("%H:%M"),
            "starts_at": _iso(now - datetime.timedelta(hours=1)),
            "members": [ALICE, "dave@example.com"],
            "escalation_to": "carol@example.com",
        },
    )
    try:
        log_in(page, live_server, ALICE)
        page.goto(f"{live_server.url}/ws/demo/my-shifts/")
        row = row_of(page, running)
        expect(row.locator(".badge", has_text="on call now")).to_be_visible()
        offer = row.get_by_role("link", name=re.compile(r"^Offer a swap "))
        if offer.count() == 0:
            return  # not offered: fine too
        slot_id = (offer.get_attribute("href") or "").split("offer=")[1].split("#")[0]
        offer.click()
        chosen = page.locator("#swap-mine option:checked")
        assert chosen.get_attribute("value") == slot_id, (
            f"Offer swap on the running shift ({slot_id}) chose another slot: {chosen.inner_text()!r}"
        )
    finally:
        api_call(live_server, "DELETE", f"/schedules/{running['id']}")


# ---------------------------------------------------------------- the timeline


def test_the_timeline_on_my_shifts_names_each_bar_on_hover_and_focus(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/my-shifts/?span=2")
    timeline = page.locator("#timeline")
    expect(timeline.get_by_role("link", name="2 weeks")).to_have_attribute("aria-current", "true")
    row = lane(page, schedule["name"])
    expect(row).to_have_count(1)
    bars = row.locator(".tl-bar")
    # From the start of today: nobody until tomorrow 09:00, then Alice and Dave by the day.
    expect(bars.first).to_have_class(re.compile(r"\bgap\b"))
    mine = row.locator(".tl-bar.mine")
    expect(mine.first.locator(".tl-name")).to_have_text("Alice Archer")
    expect(row.locator(".tl-bar.rotation:not(.mine) .tl-name").first).to_have_text("Dave Diaz")
    for bar in bars.all():
        expect(bar).to_have_attribute("tabindex", "0")
        assert bar.get_attribute("aria-label") == bar.get_attribute("data-tip")
        assert tip(bar) == "none", "a tip is shown before hover or focus"
    # Focus (the keyboard's way) shows the tip…
    first_mine = mine.first
    first_mine.focus()
    label = first_mine.get_attribute("data-tip") or ""
    assert re.fullmatch(
        r"Alice Archer: \w{3} \d\d \w{3} \d\d:\d\d " + DASH + r" \w{3} \d\d \w{3} \d\d:\d\d( \(override\))?", label
    ), label
    start = schedule["first_start"].astimezone(BERLIN).strftime("%a %d %b %H:%M")
    assert label.startswith(f"Alice Archer: {start} {DASH} "), label
    assert tip(first_mine) == label
    # …and so does hovering (the mouse's way), on a bar of someone else.
    page.locator("h1").click()  # blur
    dave = row.locator(".tl-bar.rotation:not(.mine)").first
    dave.hover()
    assert tip(dave).startswith("Dave Diaz: "), tip(dave)
    box, tip_box = dave.bounding_box(), _after_box(dave)
    assert box is not None and tip_box["top"] >= box["y"] + box["height"] - 1  # below the bar, not over it
    # A line at now in every lane (the whole window is from today's start).
    lanes = timeline.locator(".tl-row")
    expect(timeline.locator(".tl-now")).to_have_count(lanes.count())
    now_line = row.locator(".tl-now")
    expect(now_line).to_be_visible()
    gap_box = bars.first.bounding_box()
    now_box = now_line.bounding_box()
    assert gap_box is not None and now_box is not None
    assert gap_box["x"] - 1 <= now_box["x"] <= gap_box["x"] + gap_box["width"] + 1  # now is before her first slot


def _after_box(el: Locator) -> dict[str, float]:
    """Where the ::after tip is drawn, from its computed offsets (pseudo-elements have no box API)."""
    return dict(
        el.evaluate(
            """el => { const s = getComputedStyle(el, '::after'); const r = el.getBoundingClientRect();
                  const top = r.top + parseFloat(s.top) + parseFloat(s.marginTop);
                  const left = r.left + parseFloat(s.left);
                  return {top, left, width: parseFloat(s.width), height: parseFloat(s.height)}; }"""
        )
    )


def test_the_override_shows_as_an_override_bar(page: Page, live_server: LiveServer, schedule: dict[str, Any]) -> None:
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/my-shifts/")
    row = lane(page, schedule["name"])
    override = row.locator(".tl-bar.override")
    expect(override).to_have_count(1)
    expect(override).to_have_class(re.compile(r"\bmine\b"))
    expect(override.locator(".tl-name")).to_have_text("Alice Archer")
    assert (override.get_attribute("data-tip") or "").endswith(" (override)")
    # The override is drawn apart from the rotation (its own fill), and it spans the day taken over.
    colours = {
        kind: row.locator(f".tl-bar.{kind}").first.evaluate("el => getComputedStyle(el).backgroundColor")
        for kind in ("rotation", "override")
    }
    assert colours["rotation"] != colours["override"], colours
    # Alice's day, Dave's day taken over and her next day are one shift, an override in part.
    (shift,) = [s for s in my_shifts_api(live_server) if s["schedule"]["id"] == schedule["id"] and s["is_override"]]
    taken = schedule["override"]
    assert _parse(shift["start"]) < _parse(taken["start"]) < _parse(taken["end"]) < _parse(shift["end"])
    short = "%a %d %b %H:%M"
    start, end = (_parse(shift[k]).astimezone(BERLIN).strftime(short) for k in ("start", "end"))
    expect(override).to_have_attribute("data-tip", f"Alice Archer: {start} {DASH} {end} (override)")


def test_the_span_links_show_one_two_or_four_weeks_of_days(page: Page, live_server: LiveServer) -> None:
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/my-shifts/")
    timeline = page.locator("#timeline")
    ticks = timeline.locator(".tl-tick")
    expect(ticks).to_have_count(7)
    expect(timeline.get_by_role("link", name="1 week")).to_have_attribute("aria-current", "true")
    today = datetime.datetime.now(BERLIN).strftime("%a %d")
    expect(ticks.first).to_have_text(today)
    page.set_viewport_size(DESKTOP)
    unreadable: list[str] = []
    for name, days in (("2 weeks", 14), ("4 weeks", 28), ("1 week", 7)):
        timeline.get_by_role("link", name=name).click()
        expect(page).to_have_url(re.compile(r"span=\d#timeline$"))
        expect(ticks).to_have_count(days)
        expect(timeline.get_by_role("link", name=name)).to_have_attribute("aria-current", "true")
        expect(ticks.first).to_have_text(today)
        if overlapping := page.evaluate(VISIBLE_TICK_OVERLAPS):
            unreadable.append(f"{name}: {overlapping}")
            timeline.screenshot(path=str(ARTIFACTS / f"my-shifts-timeline-{name.replace(' ', '-')}-desktop.png"))
    assert not unreadable, "day labels run into each other at 1280 px:\n" + "\n".join(unreadable)


def test_the_text_alternative_lists_the_same_bars(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/my-shifts/?span=4")
    details = page.locator("#timeline details.timeline-text")
    expect(details.locator("ul").first).to_be_hidden()  # closed until asked for
    details.locator("summary", has_text="The timeline as text").click()
    lists = details.locator("ul")
    rows = page.locator("#timeline .tl-row")
    expect(lists).to_have_count(rows.count())
    headings = details.locator("h3").all_inner_texts()
    assert headings == page.locator("#timeline .tl-label").all_inner_texts()
    assert schedule["name"] in headings
    for row, items in zip(rows.all(), lists.all(), strict=True):
        said = [bar.get_attribute("aria-label") for bar in row.locator(".tl-bar").all()]
        assert items.locator("li").all_inner_texts() == said
    gaps = details.locator("li.gap")
    expect(gaps.first).to_contain_text("Nobody on call: ")


def test_the_schedule_page_shows_its_timeline_with_the_gap_in_red(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/oncall/schedules/{schedule['id']}")
    timeline = page.locator("#timeline")
    expect(timeline.locator(".tl-row")).to_have_count(1)
    expect(timeline.locator(".tl-label")).to_have_text(schedule["name"])
    gap = timeline.locator(".tl-bar.gap").first
    expect(gap).to_be_visible()
    assert (gap.get_attribute("aria-label") or "").startswith("Nobody on call: ")
    colour = gap.evaluate(
        "el => [getComputedStyle(el).borderTopColor, getComputedStyle(el).borderTopStyle, getComputedStyle(el).backgroundColor]"
    )
    red, green, blue = (int(x) for x in re.findall(r"\d+", colour[0])[:3])
    assert red > 150 and green < 100 and blue < 100 and colour[1] == "dashed", colour
    assert re.findall(r"\d+", colour[2])[:3] == re.findall(r"\d+", "rgb(224, 69, 69)")[:3], colour
    expect(timeline.locator(".tl-now")).to_have_count(1)
    expect(timeline.locator(".tl-bar.rotation .tl-name", has_text="Alice Archer").first).to_be_visible()
    expect(timeline.locator(".tl-bar.rotation .tl-name", has_text="Dave Diaz").first).to_be_visible()
    # The schedule's zone keeps itself across the span links.
    page.goto(f"{live_server.url}/ws/demo/oncall/schedules/{schedule['id']}?tz=schedule")
    timeline.get_by_role("link", name="4 weeks").click()
    expect(page).to_have_url(re.compile(r"span=4&tz=schedule#timeline$"))
    expect(timeline.locator(".tl-tick")).to_have_count(28)
    expect(timeline.locator("p.hint")).to_contain_text("times in Europe/Berlin")
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size(DESKTOP)
    timeline.screenshot(path=str(ARTIFACTS / "schedule-timeline-desktop.png"))


def test_a_demo_schedule_page_has_a_timeline_of_its_rotation(page: Page, live_server: LiveServer) -> None:
    schedules = {s["name"]: s for s in api_call(live_server, "GET", "/schedules")}
    platform = schedules["Platform — primary"]
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/oncall/schedules/{platform['id']}?span=4")
    timeline = page.locator("#timeline")
    bars = timeline.locator(".tl-bar")
    assert bars.count() >= 4  # a weekly rotation over 4 weeks
    names = set(timeline.locator(".tl-name").all_inner_texts())
    assert names & {"Alice Archer", "Bob Baker", "Carol Chen"}, names
    expect(timeline.locator(".tl-now")).to_have_count(1)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(ARTIFACTS / "schedule-with-timeline-desktop.png"), full_page=True)


# ---------------------------------------------------------------- screenshots and phone width


def _fits(page: Page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{what}: {width} px wide at a {PHONE['width']} px screen"
    overlaps = page.evaluate(OVERLAPS, None)
    assert not overlaps, f"{what}: boxes overlap: {overlaps}"


VISIBLE_TICK_OVERLAPS = """
() => {
  const shown = [...document.querySelectorAll('#timeline .tl-tick')]
    .filter(t => getComputedStyle(t).visibility !== 'hidden').map(t => [t.textContent, t.getBoundingClientRect()]);
  const found = [];
  for (let i = 1; i < shown.length; i++) {
    if (shown[i][1].left < shown[i - 1][1].right - 1) found.push(`${shown[i - 1][0]} / ${shown[i][0]}`);
  }
  return found;
}
"""


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    yield context.new_page()
    context.close()


def test_my_shifts_screenshots_at_desktop_and_phone_width(
    browser: Browser, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        log_in(page, live_server, ALICE)
        page.goto(f"{live_server.url}/ws/demo/my-shifts/")
        page.screenshot(path=str(ARTIFACTS / f"my-shifts-{label}.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / f"my-shifts-{label}-viewport.png"))
        bar = lane(page, schedule["name"]).locator(".tl-bar.mine").first
        bar.focus()
        page.locator("#timeline").screenshot(path=str(ARTIFACTS / f"my-shifts-timeline-tip-{label}.png"))
        page.evaluate("document.activeElement.blur()")
        page.locator("#timeline summary").click()
        page.locator("#timeline").screenshot(path=str(ARTIFACTS / f"my-shifts-timeline-text-{label}.png"))
        context.close()


def test_my_shifts_fits_a_phone(phone: Page, live_server: LiveServer, schedule: dict[str, Any]) -> None:
    log_in(phone, live_server, ALICE)
    problems: list[str] = []
    for span in (1, 2, 4):
        phone.goto(f"{live_server.url}/ws/demo/my-shifts/?span={span}")
        expect(phone.locator("h1")).to_have_text("My shifts")
        try:
            _fits(phone, f"My shifts over {span} week(s)")
        except AssertionError as unfit:
            problems.append(str(unfit))
        if overlapping := phone.evaluate(VISIBLE_TICK_OVERLAPS):
            problems.append(f"day labels over {span} week(s) run into each other: {overlapping}")
        phone.locator("#timeline").screenshot(path=str(ARTIFACTS / f"my-shifts-timeline-{span}w-phone.png"))
    phone.goto(f"{live_server.url}/ws/demo/my-shifts/")
    row = lane(phone, schedule["name"])
    # The lane is the screen's width (the label goes above it), and a name fits in a day's bar.
    lane_box = row.locator(".tl-lane").bounding_box()
    assert lane_box is not None and lane_box["width"] >= 0.7 * PHONE["width"], lane_box
    name = row.locator(".tl-bar.mine .tl-name").first
    assert name.evaluate("el => el.scrollWidth <= el.clientWidth + 1"), "the name is cut off in its bar"
    assert not problems, "\n".join(problems)


def test_a_tip_stays_on_a_phone_screen(phone: Page, live_server: LiveServer, schedule: dict[str, Any]) -> None:
    """Focusing any bar, the last one at the right edge included, makes the page no wider than the screen."""
    log_in(phone, live_server, ALICE)
    phone.goto(f"{live_server.url}/ws/demo/my-shifts/")
    wide: list[str] = []
    for bar in lane(phone, schedule["name"]).locator(".tl-bar").all():
        bar.focus()
        assert tip(bar) == bar.get_attribute("data-tip")
        width = phone.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide.append(f"{bar.get_attribute('data-tip')}: page {width} px wide")
    phone.screenshot(path=str(ARTIFACTS / "my-shifts-tip-at-the-edge-phone.png"))
    assert not wide, "a focused bar's tip runs off the screen:\n" + "\n".join(wide)


# ---------------------------------------------------------------- calendar feeds


def _fetch(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers.get("Content-Type", ""), refused.read().decode()


def test_a_personal_feed_is_created_read_and_revoked_in_settings(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/my-shifts/")
    page.get_by_role("link", name="Subscribe in your calendar").click()
    expect(page).to_have_url(re.compile(r"/ws/demo/settings/#calendar-feeds$"))
    section = page.locator("main #calendar-feeds")
    section.get_by_label("Feed of").select_option(label="my shifts on every schedule")
    section.get_by_role("button", name="Create feed").click()
    expect(page.locator("#new-feed")).to_contain_text("New feed of your shifts")
    url = page.locator("#new-feed-url").inner_text().strip()
    assert re.fullmatch(re.escape(live_server.url) + r"/calendar/[\w-]+\.ics", url), url
    webcal = page.locator("#new-feed-webcal")
    assert webcal.get_attribute("href") == "webcal://" + url.split("://", 1)[1]
    status, kind, body = _fetch(url)
    assert status == 200 and kind.startswith("text/calendar"), (status, kind)
    assert "BEGIN:VCALENDAR" in body and "BEGIN:VEVENT" in body
    assert f"SUMMARY:On call: {schedule['name']}" in body.replace("\r\n ", "")
    listed = section.locator("tbody tr", has_text="My shifts (every schedule)")
    expect(listed).to_have_count(1)
    listed.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Calendar feed revoked")).to_be_visible()
    expect(page.locator("#new-feed-url")).to_have_count(0)  # shown once
    expect(section.locator("tbody tr", has_text="My shifts (every schedule)")).to_have_count(0)
    assert _fetch(url)[0] == 404


def test_a_schedule_feed_names_the_person_in_each_event(
    page: Page, live_server: LiveServer, schedule: dict[str, Any]
) -> None:
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/settings/")
    section = page.locator("main #calendar-feeds")
    section.get_by_label("Feed of").select_option(label=f"everyone's shifts on {schedule['name']}")
    section.get_by_role("button", name="Create feed").click()
    expect(page.locator("#new-feed")).to_contain_text("New feed of the schedule")
    url = page.locator("#new-feed-url").inner_text().strip()
    status, _, body = _fetch(url)
    unfolded = body.replace("\r\n ", "")
    assert status == 200
    assert f"SUMMARY:Alice Archer — {schedule['name']}" in unfolded
    assert f"SUMMARY:Dave Diaz — {schedule['name']}" in unfolded
    section.locator("tbody tr", has_text=f"Schedule {schedule['name']}").get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Calendar feed revoked")).to_be_visible()
    assert _fetch(url)[0] == 404


def test_the_settings_page_keeps_the_feed_url_out_of_its_title(page: Page, live_server: LiveServer) -> None:
    """The secret URL is shown once in the page, never in the window title (which history keeps)."""
    log_in(page, live_server, ALICE)
    page.goto(f"{live_server.url}/ws/demo/settings/")
    assert page.title() == "Settings · Demo", page.title()
    page.locator("main #calendar-feeds").get_by_role("button", name="Create feed").click()
    url = page.locator("#new-feed-url").inner_text().strip()
    assert url not in page.title(), page.title()[:200]
    expect(page.locator("[id=calendar-feeds]")).to_have_count(1)
    page.locator("main #calendar-feeds tbody tr", has_text="My shifts (every schedule)").get_by_role(
        "button", name="Revoke"
    ).click()
