"""The PagerDuty bridge's outbound side on both databases, through the real `pagerduty` client and the
fake PagerDuty: the Events API v2 trigger's severity, what each answer of PagerDuty does to the
delivery row (429 with Retry-After and 5xx retried, a timeout never resent, a 4xx failed), the
acknowledge and resolve an ack or resolve in Vigilo sends, a retry that an ack makes moot, escalating
past a PagerDuty step, a connection whose keys no longer open, "Send test event" and the delivery log
on Settings → Integrations. The embedded worker sends; delays are scaled (SCALE)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import DeliveryLog
from app.domain.roles import Role
from app.main import create_app
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, fresh, make_paging_schedule, make_team
from tests.fakes.servers import Failure, FakeServer, RecordedRequest
from tests.web import login, post_form

# As in tests/integration/test_pagerduty.py (not imported: importing it pulls its mypy errors into this file's run).
SCALE = 0.05
STEP = 400  # minutes: twenty seconds here, longer than any test waits
ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "vic": Role.VIEWER}
ROUTING_KEY = "R0UTINGKEY" + "a" * 22
SECRET = "whsec-test-signing-secret"
API_KEY = "u+RESTAPIKEYxxxxxxxx"
INTEGRATIONS = "/ws/acme/settings/integrations"
SHORT = 40  # minutes: two seconds here
OTHER_SECRET_KEY = "another-secret-key-that-is-long-enough-9876543210"
NEW_ROUTING_KEY = "N3WROUTINGKEY" + "b" * 19
TRIGGER = "PagerDuty trigger for Payments PD"

StepsFor = Callable[[str, Team], list[dict[str, Any]]]


def enqueue(request: RecordedRequest) -> bool:
    """Only the Events API's POSTs get a planned failure."""
    return request.path.split("?")[0] == "/v2/enqueue"


def pd_only(service_id: str, _team: Team) -> list[dict[str, Any]]:
    return [{"delay_minutes": STEP, "targets": [{"pagerduty_service_id": service_id}]}]


@dataclass
class Outbound:
    client: AsyncTestClient[Any]
    team: Team
    settings: Settings
    schedule: Any
    auth: dict[str, str]
    pd: FakeServer
    twilio: FakeServer
    service: dict[str, Any]

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        """The Events API bodies PagerDuty got (refused ones included)."""
        found = [c.json for c in self.pd.calls("/v2/enqueue")]
        return [e for e in found if action is None or e.get("event_action") == action]

    async def declare(self, title: str = "Checkout failing", severity: str = "SEV1") -> dict[str, Any]:
        created = await self.client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": title, "severity": severity, "schedule_id": str(self.schedule.id)},
            headers=self.auth,
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        return body

    async def incident(self, incident_id: str) -> dict[str, Any]:
        body: dict[str, Any] = (
            await self.client.get(f"/api/v1/ws/acme/incidents/{incident_id}", headers=self.auth)
        ).json()
        return body

    def posts(self, dedup_key: str, action: str = "trigger") -> list[RecordedRequest]:
        """The POSTs PagerDuty got for this alert and action, refused ones included."""
        return [
            c
            for c in self.pd.calls("/v2/enqueue")
            if c.json.get("dedup_key") == dedup_key and c.json.get("event_action") == action
        ]

    def texts_to(self, who: str) -> list[RecordedRequest]:
        phone = self.team[who].paging_phone
        return [c for c in self.twilio.calls("/Messages.json") if c.form.get("To") == phone]

    async def messages(self, incident_id: str) -> list[str]:
        return [e["message"] for e in (await self.incident(incident_id))["timeline"]]


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    assert await check()


async def wait_for(check: Callable[[], bool], seconds: float = 10) -> None:
    async def wrapped() -> bool:
        return check()

    await until(wrapped, seconds)


async def pd_rows(db: AsyncSession, incident_id: str | None = None, action: str | None = None) -> list[DeliveryLog]:
    """The outbound PagerDuty delivery rows (of one incident, of one action), oldest first."""
    session = await fresh(db)
    query = select(DeliveryLog).where(DeliveryLog.channel == "pagerduty", DeliveryLog.direction == "outbound")
    rows = list(await session.scalars(query.order_by(DeliveryLog.at)))
    if incident_id is not None:
        rows = [r for r in rows if str(r.incident_id) == incident_id]
    return [r for r in rows if action is None or json.loads(r.summary)["action"] == action]


async def the_row(db: AsyncSession, incident_id: str, action: str = "trigger") -> DeliveryLog:
    rows = await pd_rows(db, incident_id, action)
    assert len(rows) == 1, [(r.status, r.summary) for r in rows]
    return rows[0]


async def row_becomes(
    db: AsyncSession, incident_id: str, status: str, action: str = "trigger", seconds: float = 10
) -> None:
    async def check() -> bool:
        rows = await pd_rows(db, incident_id, action)
        return len(rows) == 1 and rows[0].status == status

    await until(check, seconds)


def service_row(html: str, service_id: str) -> str:
    """The connection's row in the PagerDuty table of the Integrations page."""
    match = re.search(rf'<tr id="pd-{service_id}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {service_id}"
    return match.group(1)


Start = Callable[..., Awaitable[Outbound]]


async def connect(
    client: AsyncTestClient[Any], auth: dict[str, str], team: Team, schedule: Any, steps: StepsFor
) -> dict[str, Any]:
    """Connect "Payments PD" and have the schedule page through a policy of `steps` (given its id)."""
    body = {"label": "Payments PD", "routing_key": ROUTING_KEY, "signing_secret": SECRET, "api_key": API_KEY}
    created = await client.post("/api/v1/ws/acme/pagerduty-services", json=body, headers=auth)
    assert created.status_code == 201, created.text
    service: dict[str, Any] = created.json()
    policy = await client.post(
        "/api/v1/ws/acme/escalation-policies",
        json={"name": "Through PagerDuty", "steps": steps(service["id"], team)},
        headers=auth,
    )
    assert policy.status_code == 201, policy.text
    changed = await client.patch(
        f"/api/v1/ws/acme/schedules/{schedule.id}", json={"escalation_policy_id": policy.json()["id"]}, headers=auth
    )
    assert changed.status_code == 200, changed.text
    return service


@pytest.fixture
async def start(
    integration_settings: Settings, db: AsyncSession, fake_pagerduty: FakeServer, fake_twilio: FakeServer
) -> AsyncIterator[Start]:
    """The app with a PagerDuty connection "Payments PD" and the Ops schedule (ann on call, ben the
    backup) paging through a policy whose steps `steps` gives (by default: the service alone). With
    `closed`, the app is stopped once that is arranged (for a test that starts another one)."""
    async with contextlib.AsyncExitStack() as stack:

        async def start_app(steps: StepsFor = pd_only, closed: bool = False, **changes: Any) -> Outbound:
            settings = replace(integration_settings, seconds_per_delay_minute=SCALE, **changes)
            team = await make_team(db, "acme", ROLES)
            schedule = await make_paging_schedule(db, team, STEP)
            token = await issue_token(db, team.workspace.id, team["owner"].id)
            auth = {"Authorization": f"Bearer {token}"}
            if closed:
                async with AsyncTestClient(app=create_app(settings)) as client:
                    service = await connect(client, auth, team, schedule, steps)
            else:
                client = await stack.enter_async_context(AsyncTestClient(app=create_app(settings)))
                service = await connect(client, auth, team, schedule, steps)
            return Outbound(client, team, settings, schedule, auth, fake_pagerduty, fake_twilio, service)

        yield start_app


# ---------------------------------------------------------------- the trigger


async def test_each_severity_triggers_with_pagerdutys_name_for_it(start: Start) -> None:
    bridge = await start()
    expected = {"SEV2": "error", "SEV3": "warning", "SEV4": "info"}
    declared = {sev: (await bridge.declare(f"Checkout slow {sev}", sev))["id"] for sev in expected}
    await wait_for(lambda: len(bridge.events("trigger")) == 3)
    by_key = {e["dedup_key"]: e for e in bridge.events("trigger")}
    for sev, incident_id in declared.items():
        assert by_key[incident_id]["payload"]["severity"] == expected[sev], sev
        assert by_key[incident_id]["payload"]["custom_details"]["severity"] == sev
        assert by_key[incident_id]["payload"]["summary"].endswith(f"Checkout slow {sev}")


# ---------------------------------------------------------------- PagerDuty's answers (invariant 8)


async def test_a_429_is_retried_after_retry_after_and_then_accepted(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.fail_next(
        Failure(
            429, '{"status":"throttle event"}', {"Retry-After": "1", "Content-Type": "application/json"}, when=enqueue
        )
    )
    created = await bridge.declare()
    await row_becomes(db, created["id"], "retrying", seconds=5)
    await row_becomes(db, created["id"], "sent")
    posts = bridge.posts(created["id"])
    assert len(posts) == 2
    assert posts[1].at - posts[0].at >= 0.9  # PagerDuty's Retry-After was waited for
    row = await the_row(db, created["id"])
    assert row.attempts == 2 and row.error is None
    messages = await bridge.messages(created["id"])
    assert f"{TRIGGER} failed: rate limited (429); retrying in 1 s (attempt 1 of 5)." in messages
    assert f"{TRIGGER} accepted by PagerDuty on attempt 2." in messages


async def test_a_500_is_retried_and_then_accepted(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.fail_next(Failure(500, "oops", when=enqueue))
    created = await bridge.declare()
    await row_becomes(db, created["id"], "sent")
    assert len(bridge.posts(created["id"])) == 2
    assert (await the_row(db, created["id"])).attempts == 2
    messages = await bridge.messages(created["id"])
    assert any(m.startswith(f"{TRIGGER} failed: PagerDuty answered 500; retrying in") for m in messages), messages
    assert f"{TRIGGER} accepted by PagerDuty on attempt 2." in messages


async def test_a_trigger_that_timed_out_is_unknown_and_never_resent(start: Start, db: AsyncSession) -> None:
    bridge = await start(send_timeout_seconds=0.5)
    bridge.pd.fail_next(Failure(202, '{"status":"success"}', hang_seconds=1.5, when=enqueue))
    created = await bridge.declare()
    await row_becomes(db, created["id"], "unknown")
    assert len(bridge.posts(created["id"])) == 1
    await asyncio.sleep(2.0)  # past the hang and the retry a backoff would have made (2 s)
    assert len(bridge.posts(created["id"])) == 1
    row = await the_row(db, created["id"])
    assert row.status == "unknown" and row.attempts == 1
    assert row.error == "timed out waiting for PagerDuty"
    messages = await bridge.messages(created["id"])
    assert (
        f"{TRIGGER} may not have arrived (timed out waiting for PagerDuty); not resent, so nobody gets it twice."
        in messages
    ), messages


async def test_a_refused_trigger_fails_with_pagerdutys_reason_and_is_not_retried(
    start: Start, db: AsyncSession
) -> None:
    bridge = await start()
    body = '{"status":"invalid event","message":"Event object is invalid","errors":["Invalid routing key"]}'
    bridge.pd.fail_next(Failure(400, body, {"Content-Type": "application/json"}, when=enqueue))
    created = await bridge.declare()
    await row_becomes(db, created["id"], "failed")
    reason = "PagerDuty refused (400): Event object is invalid (Invalid routing key)"
    row = await the_row(db, created["id"])
    assert row.error == reason and row.attempts == 1
    await asyncio.sleep(2.2)  # longer than the first backoff of a temporary failure
    assert len(bridge.posts(created["id"])) == 1
    assert f"{TRIGGER} failed after 1 attempt: {reason}." in await bridge.messages(created["id"])
    page = (await bridge.incident(created["id"]))["pages"][0]
    assert page["pagerduty_service"]["label"] == "Payments PD"


# ---------------------------------------------------------------- ack and resolve in Vigilo


async def test_an_ack_and_a_resolve_in_vigilo_tell_pagerduty_once_each(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    created = await bridge.declare()
    incident_id = created["id"]
    await row_becomes(db, incident_id, "sent")
    # Ben is a plain member, not the one on call (ann is), and acknowledges on the incident page.
    await login(bridge.client, bridge.team["ben"].email, PASSWORD)
    page_url = f"/ws/acme/incidents/{incident_id}"
    acked = await post_form(bridge.client, page_url + "/ack", {}, from_page=page_url)
    assert acked.status_code == 303, acked.text
    await wait_for(lambda: len(bridge.events("acknowledge")) == 1)
    ack = bridge.events("acknowledge")[0]
    assert ack["dedup_key"] == incident_id and ack["routing_key"] == ROUTING_KEY
    assert "payload" not in ack
    state = await bridge.incident(incident_id)
    assert state["status"] == "acknowledged"
    assert [r["user"]["email"] for r in state["responders"]] == [bridge.team["ben"].email]
    await row_becomes(db, incident_id, "sent", "acknowledge")

    ben = {"Authorization": f"Bearer {await issue_token(db, bridge.team.workspace.id, bridge.team['ben'].id)}"}
    resolved = await bridge.client.post(f"/api/v1/ws/acme/incidents/{incident_id}/resolve", headers=ben)
    assert resolved.status_code == 200, resolved.text
    await wait_for(lambda: len(bridge.events("resolve")) == 1)
    assert bridge.events("resolve")[0]["dedup_key"] == incident_id
    await row_becomes(db, incident_id, "sent", "resolve")
    again = await bridge.client.post(f"/api/v1/ws/acme/incidents/{incident_id}/resolve", headers=ben)
    assert again.status_code == 409, again.text
    await asyncio.sleep(0.5)
    assert [e["event_action"] for e in bridge.events()] == ["trigger", "acknowledge", "resolve"]
    assert len(await pd_rows(db, incident_id)) == 3
    messages = await bridge.messages(incident_id)
    assert "PagerDuty acknowledge for Payments PD accepted by PagerDuty." in messages
    assert "PagerDuty resolve for Payments PD accepted by PagerDuty." in messages


async def follow_up_status(db: AsyncSession, incident_id: str, status: str) -> bool:
    """Whether the incident's acknowledge (a PagerDuty row with no page) has `status`."""
    session = await fresh(db)
    found = await session.scalar(
        select(DeliveryLog.status).where(
            DeliveryLog.channel == "pagerduty",
            DeliveryLog.incident_id == uuid.UUID(incident_id),
            DeliveryLog.page_id.is_(None),
        )
    )
    return found == status


async def test_a_trigger_waiting_for_its_retry_is_not_sent_after_an_ack(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.fail_next(
        Failure(
            429, '{"status":"throttle event"}', {"Retry-After": "2", "Content-Type": "application/json"}, when=enqueue
        )
    )
    await login(bridge.client, bridge.team["ben"].email, PASSWORD)
    created = await bridge.declare()
    incident_id = created["id"]
    await row_becomes(db, incident_id, "retrying")
    page_url = f"/ws/acme/incidents/{incident_id}"
    acked = await post_form(bridge.client, page_url + "/ack", {}, from_page=page_url)
    assert acked.status_code == 303, acked.text
    await row_becomes(db, incident_id, "skipped")  # when the retry comes due, ~2 s after the 429
    row = await the_row(db, incident_id)
    assert row.error is not None and re.fullmatch(r"not sent: the page was (cancelled|acknowledged) first", row.error)
    # PagerDuty never took the trigger (429), so it has no alert: the acknowledge is not sent either.
    await until(lambda: follow_up_status(db, incident_id, "skipped"))
    await asyncio.sleep(0.5)
    assert len(bridge.posts(incident_id)) == 1  # the refused first attempt only: never a second trigger
    assert bridge.events("acknowledge") == []
    messages = await bridge.messages(incident_id)
    assert any(re.fullmatch(rf"{TRIGGER} not sent: the page was \w+ first\.", m) for m in messages), messages


# ---------------------------------------------------------------- escalating past PagerDuty


def pd_then_ben(service_id: str, team: Team) -> list[dict[str, Any]]:
    return [
        {"delay_minutes": SHORT, "targets": [{"pagerduty_service_id": service_id}]},
        {"delay_minutes": STEP, "targets": [{"user": team["ben"].email}]},
    ]


async def test_nobody_acking_in_pagerduty_escalates_to_the_next_step_in_vigilo(start: Start, db: AsyncSession) -> None:
    bridge = await start(pd_then_ben)
    declared_at = time.time()
    created = await bridge.declare()
    incident_id = created["id"]
    await row_becomes(db, incident_id, "sent")
    assert bridge.texts_to("ben") == []
    await wait_for(lambda: len(bridge.texts_to("ben")) == 1)
    # Not before the step's deadline (40 scaled minutes: 2 s after the declare).
    assert bridge.texts_to("ben")[0].at - declared_at >= SHORT * SCALE - 0.1
    assert "INC-1" in bridge.texts_to("ben")[0].form["Body"]
    state = await bridge.incident(incident_id)
    pages = {(p["pagerduty_service"] or {}).get("label") or p["user"]["email"]: p for p in state["pages"]}
    assert pages["Payments PD"]["status"] == "escalated"
    assert pages[bridge.team["ben"].email]["status"] == "pending"
    assert state["status"] == "triggered"
    assert bridge.texts_to("ann") == []  # the PagerDuty step sends no SMS of Vigilo's own
    assert [e["event_action"] for e in bridge.events()] == ["trigger"]
    assert any(
        m.startswith(f"No acknowledgement within {SHORT} min of step 1") for m in await bridge.messages(incident_id)
    )


# ---------------------------------------------------------------- keys sealed under another secret key


async def test_keys_that_no_longer_decrypt_fall_back_to_vigilo_until_entered_again(
    start: Start, db: AsyncSession
) -> None:
    bridge = await start(closed=True)  # the keys are sealed under the test settings' secret key
    service_id = bridge.service["id"]
    moved = replace(bridge.settings, secret_key=OTHER_SECRET_KEY)
    async with AsyncTestClient(app=create_app(moved)) as client:
        await login(client, bridge.team["owner"].email, PASSWORD)
        page = await client.get(INTEGRATIONS)
        assert page.status_code == 200, page.text
        row = service_row(page.text, service_id)
        assert "cannot decrypt — enter the keys again" in row
        assert "Send test event" not in row
        assert f'id="pd-keys-{service_id}"' in page.text

        declared = await client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "Checkout failing", "severity": "SEV1", "schedule_id": str(bridge.schedule.id)},
            headers=bridge.auth,
        )
        assert declared.status_code == 201, declared.text
        first = declared.json()["id"]
        await wait_for(lambda: len(bridge.texts_to("ann")) == 1)
        assert "INC-1" in bridge.texts_to("ann")[0].form["Body"]
        messages = [
            e["message"]
            for e in (await client.get(f"/api/v1/ws/acme/incidents/{first}", headers=bridge.auth)).json()["timeline"]
        ]
        fallback = (
            ": PagerDuty service Payments PD cannot be used: its keys cannot be decrypted "
            "(enter them again under Settings → Integrations); paging through Vigilo instead."
        )
        assert any(m.startswith("Step 1") and m.endswith(fallback) for m in messages), messages
        await asyncio.sleep(0.3)
        assert bridge.pd.calls("/v2/enqueue") == []

        saved = await post_form(
            client,
            f"{INTEGRATIONS}/pagerduty/{service_id}/keys",
            {"routing_key": NEW_ROUTING_KEY, "signing_secret": SECRET, "api_key": ""},
            from_page=INTEGRATIONS,
        )
        assert saved.status_code == 303, saved.text
        page = await client.get(INTEGRATIONS)
        row = service_row(page.text, service_id)
        assert '<span class="badge">ready</span>' in row
        assert "cannot decrypt" not in page.text
        assert f'id="pd-keys-{service_id}"' not in page.text

        again = await client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "Checkout failing again", "severity": "SEV2", "schedule_id": str(bridge.schedule.id)},
            headers=bridge.auth,
        )
        assert again.status_code == 201, again.text
        await wait_for(lambda: len(bridge.events("trigger")) == 1)
        trigger = bridge.events("trigger")[0]
        assert trigger["dedup_key"] == again.json()["id"]
        assert trigger["routing_key"] == NEW_ROUTING_KEY
        assert len(bridge.texts_to("ann")) == 1  # the second incident went through PagerDuty only


# ---------------------------------------------------------------- Settings → Integrations


async def test_send_test_event_triggers_then_resolves_and_the_page_shows_both(start: Start) -> None:
    bridge = await start()
    service_id = bridge.service["id"]
    await login(bridge.client, bridge.team["owner"].email, PASSWORD)
    sent = await post_form(bridge.client, f"{INTEGRATIONS}/pagerduty/{service_id}/test", {}, from_page=INTEGRATIONS)
    assert sent.status_code == 303, sent.text
    await wait_for(lambda: len(bridge.events("resolve")) == 1)
    trigger, resolve = bridge.events("trigger"), bridge.events("resolve")
    assert len(trigger) == 1
    assert trigger[0]["dedup_key"] == resolve[0]["dedup_key"]
    assert trigger[0]["dedup_key"].startswith("vigilo-test-")
    assert trigger[0]["routing_key"] == ROUTING_KEY == resolve[0]["routing_key"]

    async def shown(*labels: str) -> bool:
        row = service_row((await bridge.client.get(INTEGRATIONS)).text, service_id)
        return all(label in row for label in labels)

    await until(lambda: shown("trigger: accepted by PagerDuty", "resolve: accepted by PagerDuty"))
    page = await bridge.client.get(INTEGRATIONS)
    assert 'hx-trigger="every 2s"' not in page.text  # nothing left to wait for: the page stops polling

    body = '{"status":"invalid event","message":"Event object is invalid","errors":["Invalid routing key"]}'
    bridge.pd.fail_next(Failure(400, body, {"Content-Type": "application/json"}, when=enqueue))
    refused = await post_form(bridge.client, f"{INTEGRATIONS}/pagerduty/{service_id}/test", {}, from_page=INTEGRATIONS)
    assert refused.status_code == 303, refused.text
    await until(
        lambda: shown("trigger: failed: PagerDuty refused (400): Event object is invalid (Invalid routing key)")
    )
    await asyncio.sleep(0.5)
    row = service_row((await bridge.client.get(INTEGRATIONS)).text, service_id)
    assert "resolve:" not in row  # the latest test only, and it had nothing to resolve
    assert len(bridge.events("trigger")) == 2
    assert len(bridge.events("resolve")) == 1


async def test_the_delivery_log_lists_pagerduty_events_without_the_keys(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    service_id = bridge.service["id"]
    created = await bridge.declare()
    await row_becomes(db, created["id"], "sent")
    await login(bridge.client, bridge.team["owner"].email, PASSWORD)
    sent = await post_form(bridge.client, f"{INTEGRATIONS}/pagerduty/{service_id}/test", {}, from_page=INTEGRATIONS)
    assert sent.status_code == 303, sent.text
    await wait_for(lambda: len(bridge.events("resolve")) == 1)
    page = await bridge.client.get(INTEGRATIONS)
    assert page.status_code == 200
    rows = re.findall(r'<tr class="delivery (\w+)">(.*?)</tr>', page.text, re.S)
    pagerduty = [(status, cells) for status, cells in rows if "outbound pagerduty" in cells]
    assert len(pagerduty) >= 2, rows  # the incident's trigger and the test's trigger (and its resolve)
    # Each row names the connection and says what the event was, in words (not its id or JSON).
    assert all("PagerDuty: Payments PD" in cells and service_id not in cells for _, cells in pagerduty)
    assert any(status == "sent" and "PagerDuty trigger for Payments PD" in cells for status, cells in pagerduty)
    assert any("PagerDuty resolve for Payments PD" in cells for _, cells in pagerduty)
    for secret in (ROUTING_KEY, SECRET, API_KEY, ROUTING_KEY[:12]):
        assert secret not in page.text
    assert "••••" + ROUTING_KEY[-4:] in service_row(page.text, service_id)
    for row in await pd_rows(db):
        assert ROUTING_KEY not in row.summary and ROUTING_KEY not in (row.error or "")
