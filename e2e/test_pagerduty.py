"""PagerDuty, tried as an admin would with a fake in PagerDuty's place: connect a service in Settings →
Integrations (a field error first), send a test event, route a schedule through it, declare an incident,
and let "the PagerDuty side" acknowledge it by a signed webhook that comes back to the open incident page
and the Slack thread. The Integrations page (desktop and phone width) and the acknowledged incident are
saved as PNGs under e2e/artifacts/ for reviewers to read."""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from playwright.sync_api import Browser, Page, ViewportSize, expect

from e2e.conftest import LiveServer, api_call, log_in
from tests.fakes.servers import FakeServer, RecordedRequest, pagerduty_webhook, signed_pagerduty_post

T = TypeVar("T")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # where e2e/test_phone_width.py saves its PNGs too
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
# Inside `root`: text or controls cut off at the screen's edges, or two of them on top of each other.
UNREADABLE = """
(root) => {
  const wanted = 'a, button, input, select, label, .badge, .error, h2, h3, p, li, td, code, strong';
  const boxes = [...document.querySelector(root).querySelectorAll(wanted)]
    .filter((el) => el.offsetParent !== null && !el.closest('thead, .sr-only'))
    .map((el) => [el, el.getBoundingClientRect()])
    .filter(([, r]) => r.width >= 2 && r.height >= 2);
  const name = (el) => `${el.tagName}#${el.id} "${(el.textContent || '').trim().slice(0, 30)}"`;
  const found = boxes.filter(([, r]) => r.left < 0 || r.right > innerWidth).map(([el]) => 'cut off: ' + name(el));
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, ra] = boxes[i], [b, rb] = boxes[j];
      if (a.contains(b) || b.contains(a)) continue;
      const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
      const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
      if (w > 2 && h > 2) found.push(`overlap: ${name(a)} with ${name(b)}`);
    }
  }
  return found.slice(0, 10);
}
"""
INTEGRATIONS = "/ws/demo/settings/integrations"
LABEL = "Payments PD"


def _eventually(find: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
    """Poll `find` (every 0.1 s) until it returns something; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        found = find()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def _shot(page: Page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 0


def _below(page: Page, field: str, error: str) -> None:
    """The error sits right under its field (not at the top of the page), and the field points at it."""
    expect(page.locator(field)).to_have_attribute("aria-invalid", "true")
    expect(page.locator(field)).to_have_attribute("aria-describedby", error.removeprefix("#"))
    box, err = page.locator(field).bounding_box(), page.locator(error).bounding_box()
    assert box is not None and err is not None
    assert 0 <= err["y"] - (box["y"] + box["height"]) < 24, f"{error} is not right under {field}: {box} {err}"


def _fits_a_phone(page: Page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{what}: {width} px wide at a {PHONE['width']} px screen"
    unreadable = page.evaluate(UNREADABLE, "#pagerduty")
    assert not unreadable, f"{what}: {unreadable}"


def _pd_events(fake: FakeServer, dedup_key: str, action: str) -> list[RecordedRequest]:
    return [
        r
        for r in fake.calls("/v2/enqueue")
        if r.json.get("dedup_key") == dedup_key and r.json.get("event_action") == action
    ]


def test_admin_connects_pagerduty_and_an_ack_there_comes_back(
    page: Page, browser: Browser, live_server: LiveServer, slack_fake: FakeServer, pagerduty_fake: FakeServer
) -> None:
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server, "admin@example.com")
    page.goto(live_server.url + "/ws/demo/settings/")
    page.get_by_role("link", name="Integrations").first.click()
    expect(page.get_by_role("heading", name="PagerDuty", exact=True)).to_be_visible()
    form = page.locator("#pagerduty-form")

    # An empty label: the error beside the label field; the keys are never echoed back.
    routing_key, secret, api_key = uuid.uuid4().hex, f"whsec{uuid.uuid4().hex}", f"u+{uuid.uuid4().hex[:22]}"
    assert len(routing_key) == 32
    form.get_by_label("Label").fill("   ")
    form.get_by_label("Routing key").fill(routing_key)
    form.get_by_label("Webhook signing secret").fill(secret)
    form.get_by_label("REST API key").fill(api_key)
    form.get_by_role("button", name="Connect").click()
    expect(page.locator("#label-error")).to_have_text(re.compile("Name the service as your team knows it"))
    _below(page, "#pd-label", "#label-error")
    expect(page.locator("#routing_key-error")).to_have_count(0)
    expect(form.get_by_label("Routing key")).to_have_value("")
    _shot(page, "pagerduty-error-desktop")
    _shot(page, "pagerduty-error-desktop-viewport", full_page=False)  # what one sees on landing

    # Connect: the inbound URL is shown this once.
    form.get_by_label("Label").fill(LABEL)
    form.get_by_label("Routing key").fill(routing_key)
    form.get_by_label("Webhook signing secret").fill(secret)
    form.get_by_label("REST API key").fill(api_key)
    form.get_by_role("button", name="Connect").click()
    expect(page.locator("#pagerduty-new")).to_contain_text(f"{LABEL} is connected")
    webhook_url = page.locator("#pagerduty-webhook-url").inner_text().strip()
    assert re.fullmatch(re.escape(live_server.url) + r"/integrations/pagerduty/[A-Za-z0-9_-]{20,}", webhook_url)
    row = page.locator("#pagerduty-services tbody tr", has_text=LABEL)
    expect(row.locator("td[data-label=Status]")).to_have_text("ready")
    expect(row.locator("td[data-label='Routing key']")).not_to_contain_text(routing_key)
    expect(row.locator("td[data-label='REST API key']")).to_contain_text("set")
    assert secret not in page.content() and api_key not in page.content()

    # Send test event: a trigger, then the resolve; the section polls until both are answered.
    row.get_by_role("button", name="Send test event").click()
    expect(page.locator("#pagerduty-webhook-url")).to_have_count(0)  # shown once, gone on the next page
    last_test = row.locator("td[data-label='Last test']")
    expect(last_test).to_contain_text("trigger: accepted by PagerDuty", timeout=20_000)
    expect(last_test).to_contain_text("resolve: accepted by PagerDuty", timeout=20_000)
    tests = [r.json for r in pagerduty_fake.calls("/v2/enqueue") if r.json.get("routing_key") == routing_key]
    assert [t["event_action"] for t in tests] == ["trigger", "resolve"]
    assert tests[0]["dedup_key"] == tests[1]["dedup_key"]
    _shot(page, "pagerduty-integrations-desktop")

    # The same page at phone width: every error, then the table, readable without a sideways scroll.
    phone_context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    try:
        phone = phone_context.new_page()
        log_in(phone, live_server, "admin@example.com")
        phone.goto(live_server.url + INTEGRATIONS)
        expect(phone.locator("#pagerduty-services")).to_contain_text("resolve: accepted by PagerDuty")
        _fits_a_phone(phone, "Integrations with the PagerDuty table")
        _shot(phone, "pagerduty-integrations-phone")
        phone_form = phone.locator("#pagerduty-form")
        phone_form.get_by_label("REST API key").fill("short key")
        phone_form.get_by_role("button", name="Connect").click()
        expect(phone.locator("#label-error")).to_be_visible()
        _shot(phone, "pagerduty-errors-phone-viewport", full_page=False)  # what one sees on landing
        for field, error in (
            ("#pd-label", "#label-error"),
            ("#pd-routing", "#routing_key-error"),
            ("#pd-secret", "#signing_secret-error"),
            ("#pd-api", "#api_key-error"),
        ):
            expect(phone.locator(error)).to_be_visible()
            _below(phone, field, error)
        _fits_a_phone(phone, "Integrations with every PagerDuty error")
        _shot(phone, "pagerduty-errors-phone")
    finally:
        phone_context.close()

    # A schedule of its own (the demo's are other tests'), routed through PagerDuty in its edit form.
    name = f"Payments — primary {uuid.uuid4().hex[:4]}"
    schedule = api_call(
        live_server,
        "POST",
        "/schedules",
        {
            "name": name,
            "rotation": "weekly",
            "timezone": "Europe/Berlin",
            "handoff_time": "09:00",
            "handoff_weekday": 0,
            "members": ["alice@example.com", "bob@example.com"],
            "escalation_to": "dave@example.com",
            "escalation_delay_minutes": 15,
        },
    )
    page.goto(f"{live_server.url}/ws/demo/oncall/schedules/{schedule['id']}")
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", name=f"Edit {name}")).to_be_visible()
    page.get_by_label("Page through PagerDuty").select_option(label=LABEL)
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    expect(page.locator("#schedule-policy")).to_contain_text(f"PagerDuty: {LABEL}")

    # Declare an incident on it from the incidents page: PagerDuty gets one trigger keyed by the incident id.
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Incidents").click()
    title = f"Card payments failing {uuid.uuid4().hex[:4]}"
    page.get_by_label("What is wrong").fill(title)
    page.get_by_label("Severity").select_option("SEV1")
    page.get_by_label("Page the on-call of").select_option(label=name)
    page.get_by_role("button", name="Declare and page").click()
    heading = page.get_by_role("heading", name=re.compile(rf"INC-\d+ · {title}"))
    expect(heading).to_be_visible()
    number = re.search(r"INC-(\d+)", heading.inner_text())
    assert number is not None
    label = f"INC-{number.group(1)}"
    incident_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    uuid.UUID(incident_id)
    expect(page.locator("#incident-status")).to_have_text("triggered")
    triggers = _eventually(lambda: _pd_events(pagerduty_fake, incident_id, "trigger") or None, "the PD trigger")
    time.sleep(0.5)  # a second trigger would be a duplicate page; give one the chance to show
    triggers = _pd_events(pagerduty_fake, incident_id, "trigger")
    assert len(triggers) == 1, [t.json for t in triggers]
    assert triggers[0].json["routing_key"] == routing_key
    assert title in triggers[0].json["payload"]["summary"]
    expect(page.locator("ul.pages li", has_text=f"PagerDuty: {LABEL}")).to_be_visible()
    page.evaluate("window.__same_page = true")

    # "The PagerDuty side": its user PADMIN1 (the admin's email by REST) acknowledges it.
    pagerduty_fake.directory["PADMIN1"] = "admin@example.com"
    body, headers = signed_pagerduty_post(
        [secret], pagerduty_webhook("incident.acknowledged", incident_id, "PADMIN1", "Admin Person")
    )
    request = urllib.request.Request(webhook_url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202

    expect(page.locator("#incident-status")).to_have_text("acknowledged", timeout=15_000)
    expect(page.locator("#chain")).to_contain_text("Ada Admin via pagerduty")
    expect(page.locator("ol.timeline")).to_contain_text(f"Ada Admin acknowledged {label} via PagerDuty")
    assert page.evaluate("window.__same_page") is True  # the live section updated, no reload
    assert any(r.path == "/users/PADMIN1" for r in pagerduty_fake.calls("/users/PADMIN1"))
    assert not _pd_events(pagerduty_fake, incident_id, "acknowledge"), "the ack from PagerDuty was sent back to it"

    # The confirmation in the incident's Slack thread.
    def confirmation() -> RecordedRequest | None:
        posts = slack_fake.calls("chat.postMessage")
        return next((c for c in posts if f"acknowledged {label}" in str(c.params.get("text", ""))), None)

    ack_post = _eventually(confirmation, "the Slack confirmation")
    first = next(
        c
        for c in slack_fake.calls("chat.postMessage")
        if f"{label} " in str(c.params.get("text", "")) and not c.params.get("thread_ts")
    )
    assert first.response is not None
    assert ack_post.params.get("thread_ts") == first.response["ts"], ack_post.params
    _shot(page, "pagerduty-incident-acknowledged-desktop")
