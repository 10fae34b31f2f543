"""Alert sources, tried as an admin would: add a Prometheus Alertmanager source in Settings → Integrations
(an empty name refused first, beside its field), read its secret URL on the page shown once, let
"Alertmanager" post a firing group to it, follow the incident it opened to its "From monitoring" card,
then put the source in maintenance and see the next group recorded as silenced, opening nothing. The
Integrations page (desktop and phone width), the shown-once URL page (phone) and the incident page are
saved as PNGs under e2e/artifacts/ for reviewers to read."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from e2e.conftest import OVERLAPS, LiveServer, api_call, log_in
from e2e.test_pagerduty import ARTIFACTS, DESKTOP, INTEGRATIONS, PHONE, UNREADABLE, _below, _shot

NAME = "Prometheus"
# A snippet's <pre> is a box of its own that scrolls sideways (pre { overflow-x: auto }): its code may run
# past the screen's edge as long as the box itself fits. UNREADABLE's findings for such code, as it names them.
SCROLLING_CODE = """
(root) => [...document.querySelector(root).querySelectorAll('pre > code')]
  .filter((el) => {
    const box = el.parentElement, r = box.getBoundingClientRect();
    return getComputedStyle(box).overflowX === 'auto' && r.left >= 0 && r.right <= innerWidth;
  })
  .map((el) => `cut off: ${el.tagName}#${el.id} "${(el.textContent || '').trim().slice(0, 30)}"`)
"""


def _alertmanager_group(group: str, summary: str) -> dict[str, Any]:
    """A firing group as Alertmanager's webhook (payload version 4) sends it: one alert with an http
    generatorURL, one whose generatorURL is a `javascript:` URL that must never become a link."""
    labels = {"alertname": group, "severity": "critical", "job": "checkout"}
    return {
        "version": "4",
        "receiver": "vigilo",
        "groupKey": f'{{}}:{{alertname="{group}"}}',
        "status": "firing",
        "groupLabels": {"alertname": group},
        "commonLabels": labels,
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://alertmanager.example:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": "firing",
                "labels": {**labels, "instance": "web-1"},
                "annotations": {"summary": summary},
                "startsAt": "2024-05-01T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate%28errors%5B5m%5D%29",
                "fingerprint": "a1b2c3d4e5f60001",
            },
            {
                "status": "firing",
                "labels": {**labels, "instance": "web-2"},
                "annotations": {"summary": summary},
                "startsAt": "2024-05-01T10:00:05Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "javascript:alert(document.cookie)",
                "fingerprint": "a1b2c3d4e5f60002",
            },
        ],
    }


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """Post as Alertmanager does (plain JSON, no extra headers); the webhook answers 202."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        answer: dict[str, Any] = json.loads(response.read())
    assert answer["ok"] is True, answer
    return answer


def _readable(page: Page, size: ViewportSize, what: str, root: str = "#main") -> None:
    """At this width the page fits the screen, and nothing in `root` is cut off or on top of another."""
    page.set_viewport_size(size)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= size["width"], f"{what}: {width} px wide at a {size['width']} px screen"
    scrolling = page.evaluate(SCROLLING_CODE, root)
    assert [f for f in page.evaluate(UNREADABLE, root) if f not in scrolling] == [], what
    assert page.evaluate(OVERLAPS, root) == [], what


def _clean_up(live_server: LiveServer, schedule_id: str) -> None:
    """The shared demo workspace as it was for the other tests: this test's incidents resolved, its
    source and its schedule gone (they would show in others' reports, shifts and lists)."""
    for incident in api_call(live_server, "GET", "/incidents?limit=200"):
        if incident["schedule_id"] == schedule_id and incident["status"] != "resolved":
            api_call(live_server, "POST", f"/incidents/{incident['id']}/resolve")
    for source in api_call(live_server, "GET", "/alert-sources"):
        if source["schedule_id"] == schedule_id:
            api_call(live_server, "DELETE", f"/alert-sources/{source['id']}")
    api_call(live_server, "DELETE", f"/schedules/{schedule_id}")


def test_admin_adds_an_alertmanager_source_and_silences_it(
    page: Page, live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    # A schedule of its own to page (the demo's are other tests'), in the demo workspace; removed after.
    schedule = f"Checkout — primary {uuid.uuid4().hex[:4]}"
    made = api_call(
        live_server,
        "POST",
        "/schedules",
        {
            "name": schedule,
            "rotation": "weekly",
            "timezone": "Europe/Berlin",
            "handoff_time": "09:00",
            "handoff_weekday": 0,
            "members": ["alice@example.com", "bob@example.com"],
            "escalation_to": "dave@example.com",
            "escalation_delay_minutes": 15,
        },
    )
    request.addfinalizer(lambda: _clean_up(live_server, made["id"]))
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server, "admin@example.com")
    page.goto(live_server.url + "/ws/demo/settings/")
    page.get_by_role("link", name="Integrations").first.click()
    section = page.locator("#alert-sources")
    expect(section.get_by_role("heading", name="Alert sources")).to_be_visible()
    section.get_by_role("link", name="Add an alert source").click()
    expect(page.get_by_role("heading", name="New alert source")).to_be_visible()

    # No name: the error right under the name field, the rest of the form kept, nothing created.
    page.get_by_label("Name").fill("")
    page.get_by_label("Sends as").select_option("alertmanager")
    page.get_by_label(re.compile(r"^Page ")).select_option(label=schedule)
    page.get_by_role("button", name="Add alert source").click()
    expect(page.locator("#name-error")).to_have_text("Name the source, e.g. Prometheus (prod).")
    _below(page, "#name", "#name-error")
    expect(page.get_by_text("Please fix the fields marked below; nothing was saved.")).to_be_visible()
    expect(page.locator("#target-error")).to_have_count(0)
    expect(page.get_by_label(re.compile(r"^Page "))).to_have_value(re.compile(r"^schedule:"))
    assert NAME not in [s["name"] for s in api_call(live_server, "GET", "/alert-sources")]

    # Named: the URL is shown this once, and Alertmanager's snippet posts to it.
    page.get_by_label("Name").fill(NAME)
    page.get_by_label(re.compile(r"^Page ")).select_option(label=schedule)
    page.get_by_role("button", name="Add alert source").click()
    expect(page.get_by_role("heading", name=NAME, exact=True)).to_be_visible()
    url = page.locator("#alert-source-url").inner_text().strip()
    assert re.fullmatch(re.escape(live_server.url) + r"/integrations/alerts/[A-Za-z0-9_-]{24,}", url), url
    token = url.rsplit("/", 1)[-1]
    snippet = page.get_by_role("heading", name="In Alertmanager").locator("xpath=..").locator("pre")
    expect(snippet).to_contain_text(f'url: "{url}"')
    expect(snippet).to_contain_text("send_resolved: true")
    _readable(page, PHONE, "the shown-once URL page")
    _shot(page, "alert-sources-url-phone")
    page.set_viewport_size(DESKTOP)

    # Back on Integrations: the source is listed, ready, and its URL is nowhere on the page.
    page.get_by_role("link", name="← Integrations").click()
    row = page.locator("#alert-source-list tbody tr", has_text=NAME)
    expect(row.locator("td[data-label=Source] .hint")).to_have_text("Alertmanager")
    expect(row.locator("td[data-label=Pages]")).to_have_text(f"{schedule} (schedule)")
    expect(row.locator("td[data-label=State]")).to_have_text("ready")
    expect(row.locator("td[data-label='Last notifications']")).to_have_text("none yet")
    assert token not in page.content()
    expect(page.locator("#alert-source-url")).to_have_count(0)

    # Alertmanager posts a firing group: one incident, SEV1 from `severity: critical`.
    summary = f"Checkout error rate above 5% {uuid.uuid4().hex[:4]}"
    answer = _post(url, _alertmanager_group("CheckoutErrors", summary))
    assert answer["incident"] is not None, answer
    label = f"INC-{answer['incident']['number']}"
    assert answer["outcome"] == f"opened {label}"
    page.reload()
    received = row.locator("td[data-label='Last notifications'] li")
    expect(received).to_have_count(1)
    expect(received).to_contain_text(f"{summary} (firing): opened {label}")
    expect(received.get_by_role("link", name=f"opened {label}")).to_have_attribute(
        "href", f"/ws/demo/incidents/{answer['incident']['id']}"
    )
    # The checks look at this section: at desktop width the Twilio section's wrapped inline <code> (not
    # this feature's) is one box spanning two lines, which the box-overlap checks take for an overlap.
    _readable(page, DESKTOP, "Integrations with an alert source", "#alert-sources")
    _shot(page, "alert-sources-integrations-desktop")
    _readable(page, PHONE, "Integrations with an alert source", "#alert-sources")
    _shot(page, "alert-sources-integrations-phone")
    section.screenshot(path=str(ARTIFACTS / "alert-sources-section-phone.png"))  # the full page is too tall to read
    page.set_viewport_size(DESKTOP)

    # The incidents list says where it came from; its page has the "From monitoring" card.
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Incidents").click()
    listed = page.locator("table.list tbody tr", has_text=summary)
    expect(listed.locator("td[data-label=From]")).to_have_text(NAME)
    expect(listed.locator("td[data-label=Severity]")).to_have_text("SEV1")
    listed.get_by_role("link", name=summary).click()
    expect(page.get_by_role("heading", name=f"{label} · {summary}")).to_be_visible()
    card = page.locator("#alert-source")
    expect(card.get_by_role("heading", name="From monitoring")).to_be_visible()
    expect(card.locator("strong")).to_have_text(NAME)
    expect(card.locator("code")).to_have_text('{}:{alertname="CheckoutErrors"}')
    links = card.get_by_role("link")
    expect(links).to_have_count(2)  # Alertmanager's page and web-1's graph; web-2's javascript: URL is dropped
    expect(card.get_by_role("link", name="Alertmanager")).to_have_attribute("href", "http://alertmanager.example:9093")
    expect(card.get_by_role("link", name="CheckoutErrors (instance=web-1)")).to_have_attribute(
        "href", re.compile(r"^http://prometheus\.example:9090/graph\?")
    )
    hrefs = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    assert "javascript:" not in card.inner_html()
    _readable(page, DESKTOP, "the incident page")
    _shot(page, "alert-sources-incident-desktop")

    # Maintenance for this source: the row says so, and the next group is recorded but opens nothing.
    page.goto(live_server.url + INTEGRATIONS)
    expect(page.locator("#silence-all")).to_be_visible()  # the whole workspace's, left alone here
    row.get_by_label(f"Silence {NAME} for").select_option(label="1 hour")
    row.get_by_role("button", name="Silence").click()
    expect(page.get_by_text(f"{NAME}: in maintenance until")).to_be_visible()
    expect(row.locator("td[data-label=State]")).to_contain_text("in maintenance until")
    expect(row.get_by_role("button", name="Change")).to_be_visible()
    quiet = f"Disk almost full on db-1 {uuid.uuid4().hex[:4]}"
    answer = _post(url, _alertmanager_group("DiskFull", quiet))
    assert answer["incident"] is None, answer
    assert answer["outcome"].startswith("silenced: maintenance until"), answer
    page.reload()
    expect(received).to_have_count(2)
    expect(received.first).to_contain_text(f"{quiet} (firing): silenced: maintenance until")
    expect(received.first).to_contain_text("opened nothing")
    expect(received.first.get_by_role("link")).to_have_count(0)
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Incidents").click()
    expect(page.locator("table.list")).to_contain_text(summary)
    expect(page.locator("table.list")).not_to_contain_text(quiet)
