"""Issue 17, "An interface that tells the truth", on both databases: Twilio's status callback and the
honest delivery states on the incident page, "Nobody has been reached", no "escalates" when nobody
comes after, the Declare form's paging gaps, htmx error fragments, the hand-off dialog and button,
schedules that have not started, the backup-in-rotation warning, the API's unknown fields and
is_active, the on-call page's single poller and the profile's test page."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from app.config import Settings
from app.db.models import DeliveryLog, OnCallSlot, SwapRequest, TimelineEntry
from app.domain.roles import Role
from app.main import create_app
from app.services.schedules import create_schedule
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, fresh, make_paging_schedule, make_team
from tests.fakes.servers import Failure, FakeServer
from tests.integration.test_acks import until
from tests.web import CSRF_INPUT, login

STATUS_PATH = "/integrations/twilio_status/"
ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "vic": Role.VIEWER}
HTMX_DIALOG = {"HX-Request": "true", "HX-Target": "dialog"}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def status_request(settings: Settings, params: dict[str, str], token: str | None = None) -> tuple[str, dict[str, str]]:
    """A Twilio status callback signed like Twilio signs it (public URL + path, form params)."""
    url = settings.public_url + STATUS_PATH
    signature = RequestValidator(token or settings.twilio_auth_token or "").compute_signature(url, params)
    return urlencode(params), {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}


def section(html: str, element_id: str) -> str:
    """The element with this id and what follows it up to its closing tag (good enough for lists)."""
    match = re.search(rf'<(\w+)[^>]*id="{re.escape(element_id)}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"#{element_id} not on the page"
    return match.group(0)


def schedule_body(team: Team, name: str, members: list[str], backup: str | None, starts: datetime.datetime) -> Any:
    return {
        "name": name,
        "rotation": "daily",
        "timezone": "UTC",
        "handoff_time": "00:00",
        "starts_at": starts.isoformat(),
        "members": [team[m].email for m in members],
        "escalation_to": team[backup].email if backup else None,
        "escalation_delay_minutes": 30,
    }


@dataclass
class Web:
    client: AsyncTestClient[Any]
    team: Team
    settings: Settings
    auth: dict[str, str]

    async def login_as(self, key: str) -> None:
        self.client.cookies.clear()
        await login(self.client, self.team[key].email, PASSWORD)

    async def token(self, path: str) -> str:
        page = await self.client.get(path)
        match = CSRF_INPUT.search(page.text)
        assert match, f"no CSRF field on {path}"
        return match.group(1)

    async def post(self, path: str, data: dict[str, str], from_page: str, headers: Any = None) -> Any:
        token = await self.token(from_page)
        return await self.client.post(
            path, data={**data, "_csrf_token": token}, headers=headers or {}, follow_redirects=False
        )

    async def declare(self, schedule_id: uuid.UUID) -> str:
        created = await self.client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "API down", "severity": "SEV2", "schedule_id": str(schedule_id)},
            headers=self.auth,
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])


@asynccontextmanager
async def open_web(settings: Settings, db: AsyncSession) -> AsyncIterator[Web]:
    team = await make_team(db, "acme", ROLES)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Web(client, team, settings, {"Authorization": f"Bearer {token}"})


@pytest.fixture
async def web(integration_settings: Settings, db: AsyncSession) -> AsyncIterator[Web]:
    async with open_web(integration_settings, db) as opened:
        yield opened


@pytest.fixture
async def plain_web(settings: Settings, db: AsyncSession) -> AsyncIterator[Web]:
    """No Slack, no Twilio."""
    async with open_web(settings, db) as opened:
        yield opened


async def sms_row(db: AsyncSession, to: str | None) -> DeliveryLog:
    """The outbound SMS to `to`, once Twilio accepted it (its MessageSid stored)."""

    async def accepted() -> bool:
        session = await fresh(db)
        return bool(
            await session.scalar(
                select(DeliveryLog.provider_id).where(DeliveryLog.channel == "sms", DeliveryLog.target == to)
            )
        )

    await until(accepted)
    row = await (await fresh(db)).scalar(
        select(DeliveryLog).where(DeliveryLog.channel == "sms", DeliveryLog.target == to)
    )
    assert row is not None
    return row


async def notes(db: AsyncSession, incident_id: str, kind: str) -> list[str]:
    session = await fresh(db)
    rows = await session.scalars(
        select(TimelineEntry.message).where(
            TimelineEntry.incident_id == uuid.UUID(incident_id), TimelineEntry.kind == kind
        )
    )
    return list(rows)


# ---------------------------------------------------------------- Twilio status callback


async def test_status_callback_forged_delivered_repeated_and_undelivered(
    web: Web, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    schedule = await make_paging_schedule(db, web.team, 30)
    incident_id = await web.declare(schedule.id)
    ann = web.team["ann"]
    row = await sms_row(db, ann.phone)
    sid = row.provider_id
    assert sid and any(c.response and c.response.get("sid") == sid for c in fake_twilio.calls("/Messages.json"))
    sms_call = next(c for c in fake_twilio.calls("/Messages.json") if c.form.get("To") == ann.phone)
    assert sms_call.form.get("StatusCallback") == web.settings.public_url + STATUS_PATH
    await web.login_as("owner")
    page_url = f"/ws/acme/incidents/{incident_id}"

    async def accepted_shown() -> bool:
        return "SMS: accepted by Twilio" in section((await web.client.get(page_url)).text, "incident-live")

    await until(accepted_shown)
    html = (await web.client.get(page_url)).text
    assert "Paging Ann (primary) by Slack and SMS, step 1 of 2." in html
    assert f"SMS to {ann.phone} accepted by Twilio." in html

    # Forged: a signature made with another token is refused and changes nothing.
    params = {"MessageSid": sid, "MessageStatus": "delivered", "To": ann.phone or ""}
    body, headers = status_request(web.settings, params, token="not-the-auth-token")
    forged = await web.client.post(STATUS_PATH, content=body, headers=headers)
    assert forged.status_code == 403
    unsigned = await web.client.post(
        STATUS_PATH, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert unsigned.status_code == 403
    session = await fresh(db)
    assert (await session.get_one(DeliveryLog, row.id)).provider_status is None
    assert await notes(db, incident_id, "delivery_delivered") == []
    assert "SMS: delivered" not in (await web.client.get(page_url)).text

    # Signed "delivered", twice (Twilio retries): delivered on the page, one note.
    body, headers = status_request(web.settings, params)
    for _ in range(2):
        answer = await web.client.post(STATUS_PATH, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
    deliveries = section((await web.client.get(page_url)).text, "incident-live")
    assert "SMS: delivered" in deliveries
    assert await notes(db, incident_id, "delivery_delivered") == [f"SMS to {ann.phone} was delivered."]
    # A late "sent" after "delivered" does not take it back.
    body, headers = status_request(web.settings, {**params, "MessageStatus": "sent"})
    assert (await web.client.post(STATUS_PATH, content=body, headers=headers)).status_code == 200
    assert "SMS: delivered" in (await web.client.get(page_url)).text

    # An unknown SID is answered 200 (nothing for Twilio to retry) and changes nothing.
    body, headers = status_request(web.settings, {**params, "MessageSid": "SM" + "0" * 32})
    assert (await web.client.post(STATUS_PATH, content=body, headers=headers)).status_code == 200


async def test_undelivered_with_an_error_code_is_said_once(web: Web, db: AsyncSession) -> None:
    schedule = await make_paging_schedule(db, web.team, 30)
    incident_id = await web.declare(schedule.id)
    ann = web.team["ann"]
    row = await sms_row(db, ann.phone)
    params = {"MessageSid": row.provider_id or "", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    body, headers = status_request(web.settings, params)
    for _ in range(2):
        assert (await web.client.post(STATUS_PATH, content=body, headers=headers)).status_code == 200
    await web.login_as("owner")
    html = (await web.client.get(f"/ws/acme/incidents/{incident_id}")).text
    deliveries = re.findall(r'<ul class="deliveries">(.*?)</ul>', html, re.S)
    assert any("SMS: not delivered" in d and "30003" in d for d in deliveries), deliveries
    assert "SMS: delivered" not in html
    assert await notes(db, incident_id, "delivery_undelivered") == [
        f"SMS to {ann.phone} was not delivered: Twilio says undelivered (Twilio error 30003)."
    ]
    # The Slack DM still reached Ann, so somebody has been reached.
    assert 'id="nobody-reached"' not in html


async def test_nobody_reached_when_twilio_refuses_and_slack_is_not_configured(
    integration_settings: Settings, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    no_slack = replace(integration_settings, slack_bot_token=None)
    fake_twilio.fail_next(
        Failure(
            400,
            '{"code": 21211, "message": "The \'To\' number is not a valid phone number.", "status": 400}',
            {"Content-Type": "application/json"},
        ),
        times=3,
    )
    async with open_web(no_slack, db) as web:
        schedule = await create_schedule(
            db,
            web.team.workspace.id,
            schedule_body(web.team, "Ops", ["ann"], None, _now() - datetime.timedelta(hours=1)),
            _now(),
        )
        incident_id = await web.declare(schedule.id)
        await web.login_as("owner")
        page_url = f"/ws/acme/incidents/{incident_id}"

        async def nobody() -> bool:
            return 'id="nobody-reached"' in (await web.client.get(page_url)).text

        await until(nobody)
        html = (await web.client.get(page_url)).text
        banner = section(html, "nobody-reached")
        assert "Nobody has been reached" in banner
        assert "SMS: failed" in banner, banner
        assert "accepted by Twilio" not in html
        assert "Escalates" not in html  # no backup: nobody comes after
        assert "Nobody comes after" in html


# ---------------------------------------------------------------- escalates / nobody comes after


async def test_escalates_only_when_someone_comes_after(web: Web, db: AsyncSession) -> None:
    now = _now()
    await web.login_as("owner")
    with_backup = await make_paging_schedule(db, web.team, 30)
    primary_page = (await web.client.get(f"/ws/acme/incidents/{await web.declare(with_backup.id)}")).text
    assert re.search(r"Escalates in \d+ min \(\d\d:\d\d\) to Ben unless acknowledged", primary_page), primary_page
    assert "Nobody comes after" not in primary_page

    # Not started yet: nobody in the rotation is on call, so the backup (Ben) is paged at once.
    later = await create_schedule(
        db,
        web.team.workspace.id,
        schedule_body(web.team, "Later", ["ann"], "ben", now + datetime.timedelta(days=2)),
        now,
    )
    backup_page = (await web.client.get(f"/ws/acme/incidents/{await web.declare(later.id)}")).text
    chain = section(backup_page, "chain")
    assert re.search(
        r"<strong>Backup</strong>: Ben .*?<strong>Ben</strong>\s*<span class=\"badge\">pending", chain, re.S
    ), chain
    assert "Escalates" not in backup_page
    assert "Nobody comes after" in backup_page

    # The primary is the backup too: the backup step pages the same person again.
    same = await create_schedule(
        db,
        web.team.workspace.id,
        schedule_body(web.team, "Same", ["ann"], "ann", now - datetime.timedelta(hours=1)),
        now,
    )
    same_page = (await web.client.get(f"/ws/acme/incidents/{await web.declare(same.id)}")).text
    assert "to Ann unless acknowledged" in same_page


# ---------------------------------------------------------------- Declare form


async def test_declare_form_warns_when_paging_is_not_set_up(plain_web: Web) -> None:
    await plain_web.login_as("owner")
    html = (await plain_web.client.get("/ws/acme/incidents/")).text
    gaps = section(html, "paging-gaps")
    assert "Twilio is not configured" in gaps
    assert "Slack is not configured" in gaps


async def test_declare_form_is_quiet_when_paging_is_set_up(web: Web) -> None:
    await web.login_as("owner")
    html = (await web.client.get("/ws/acme/incidents/")).text
    assert "Declare an incident" in html
    assert 'id="paging-gaps"' not in html


# ---------------------------------------------------------------- htmx error fragments


def small_dialog(text: str) -> None:
    assert "<html" not in text.lower() and "<nav" not in text and "<body" not in text, text[:500]
    assert "<dialog" in text and "open" in text
    assert len(text) < 4000, len(text)


async def test_htmx_errors_come_back_as_small_dialog_fragments(web: Web, db: AsyncSession) -> None:
    now = _now()
    schedule = await create_schedule(
        db,
        web.team.workspace.id,
        schedule_body(web.team, "Ops", ["ann", "ben"], "owner", now - datetime.timedelta(hours=1)),
        now,
    )
    session = await fresh(db)
    slots = list(
        await session.scalars(
            select(OnCallSlot)
            .where(OnCallSlot.schedule_id == schedule.id, OnCallSlot.start_time > now)
            .order_by(OnCallSlot.start_time)
        )
    )
    ann_slot = next(s for s in slots if s.user_id == web.team["ann"].id)
    ben_slot = next(s for s in slots if s.user_id == web.team["ben"].id)
    calendar = f"/ws/acme/oncall/schedules/{schedule.id}"

    # 403: a viewer posts a slot edit from a dialog.
    await web.login_as("vic")
    forbidden = await web.post(
        f"/ws/acme/oncall/slots/{ann_slot.id}",
        {"user": web.team["vic"].email, "start": "", "end": ""},
        calendar,
        HTMX_DIALOG,
    )
    assert forbidden.status_code == 403
    small_dialog(forbidden.text)
    assert "dialog-error" in forbidden.text
    # Without HX-Target: dialog, still a fragment (no dialog of its own) — never a whole page.
    inline = await web.post(
        f"/ws/acme/oncall/slots/{ann_slot.id}",
        {"user": web.team["vic"].email},
        calendar,
        {"HX-Request": "true", "HX-Target": f"fix-{schedule.id}"},
    )
    assert inline.status_code == 403
    assert "<html" not in inline.text.lower() and "<dialog" not in inline.text and "dialog-error" in inline.text
    # Without htmx: the whole error page, as before.
    whole = await web.post(f"/ws/acme/oncall/slots/{ann_slot.id}", {"user": web.team["vic"].email}, calendar)
    assert whole.status_code == 403 and "<html" in whole.text.lower()

    # 409: Ben answers a swap that was already declined.
    await web.login_as("ann")
    proposed = await web.post(
        "/ws/acme/oncall/swaps", {"slot": str(ann_slot.id), "their_slot": str(ben_slot.id)}, "/ws/acme/oncall/"
    )
    assert proposed.status_code == 303, proposed.text
    swap_id = await (await fresh(db)).scalar(select(SwapRequest.id))
    await web.login_as("ben")
    declined = await web.post(f"/ws/acme/oncall/swaps/{swap_id}/decline", {}, "/ws/acme/oncall/", HTMX_DIALOG)
    assert declined.status_code == 200, declined.text
    late = await web.post(f"/ws/acme/oncall/swaps/{swap_id}/accept", {}, "/ws/acme/oncall/", HTMX_DIALOG)
    assert late.status_code == 409
    small_dialog(late.text)
    assert "This swap request is declined." in late.text

    # 422: a hand-off without a person: the dialog again, with the reason beside the field.
    await web.login_as("ann")
    nobody = await web.post(
        f"/ws/acme/oncall/schedules/{schedule.id}/handoff", {"to": "", "at": ""}, calendar, HTMX_DIALOG
    )
    assert nobody.status_code == 422
    small_dialog(nobody.text)
    assert "Pick who takes over." in nobody.text
    assert 'id="handoff-to-error"' in nobody.text

    # 404 for an id that is not there.
    missing = await web.client.get(f"/ws/acme/oncall/slots/{uuid.uuid4()}/edit", headers=HTMX_DIALOG)
    assert missing.status_code == 404
    small_dialog(missing.text)


async def test_handoff_without_a_person_says_pick_who(web: Web, db: AsyncSession) -> None:
    schedule = await make_paging_schedule(db, web.team, 30)
    await web.login_as("ann")
    calendar = f"/ws/acme/oncall/schedules/{schedule.id}"
    page = await web.post(f"{calendar}/handoff", {"to": "", "at": ""}, calendar)
    assert page.status_code == 422
    assert "Pick who takes over." in page.text
    api = await web.client.post(f"/api/v1/ws/acme/schedules/{schedule.id}/handoff", json={"to": "  "}, headers=web.auth)
    assert api.status_code == 422
    assert any(e["field"] == "to" and e["message"] == "Pick who takes over." for e in api.json()["errors"])


# ---------------------------------------------------------------- buttons for what you may do


async def test_hand_off_only_for_those_with_time_on_the_schedule(web: Web, db: AsyncSession) -> None:
    now = _now()
    schedule = await create_schedule(
        db,
        web.team.workspace.id,
        schedule_body(web.team, "Ops", ["ann"], "owner", now - datetime.timedelta(hours=1)),
        now,
    )
    calendar = f"/ws/acme/oncall/schedules/{schedule.id}"
    hand_off_link = re.compile(r"<a [^>]*/handoff\"[^>]*>Hand off</a>")
    seen = {}
    for key in ("owner", "ann", "ben", "vic"):
        await web.login_as(key)
        html = (await web.client.get(calendar)).text
        assert "Schedule actions" in html or key == "vic"
        seen[key] = bool(hand_off_link.search(html))
    assert seen == {"owner": True, "ann": True, "ben": False, "vic": False}


# ---------------------------------------------------------------- schedules not started, warnings


async def test_a_schedule_that_starts_later_says_when_and_with_whom(web: Web, db: AsyncSession) -> None:
    now = _now()
    await create_schedule(
        db,
        web.team.workspace.id,
        schedule_body(web.team, "Later", ["ben", "ann"], "owner", now + datetime.timedelta(days=3)),
        now,
    )
    await web.login_as("owner")
    html = (await web.client.get("/ws/acme/oncall/")).text
    rows = section(html, "oncall-rows")
    assert re.search(r"Later starts [^<]+ with Ben; until then an incident on it pages the backup\.", rows), rows
    assert "run out of slots" not in rows
    assert "Extend rotation" not in rows and "Activate" not in rows
    row = re.search(r"<tr[^>]*>\s*<td[^>]*>\s*(?:<[^>]+>)*\s*Later.*?</tr>", rows, re.S)
    assert row, rows
    next_handoff = re.findall(r"<td>(.*?)</td>", row.group(0), re.S)[-1]
    assert "Ben" in next_handoff and re.search(r"in [23] d", next_handoff), next_handoff


async def test_backup_in_rotation_is_warned_and_deactivate_says_what_pages(web: Web, db: AsyncSession) -> None:
    now = _now()
    both = await create_schedule(
        db,
        web.team.workspace.id,
        schedule_body(web.team, "Both", ["ann", "ben"], "ann", now - datetime.timedelta(hours=1)),
        now,
    )
    apart = await create_schedule(
        db,
        web.team.workspace.id,
        schedule_body(web.team, "Apart", ["ann"], "ben", now - datetime.timedelta(hours=1)),
        now,
    )
    lonely = await create_schedule(
        db,
        web.team.workspace.id,
        schedule_body(web.team, "Lonely", ["ann"], None, now - datetime.timedelta(hours=1)),
        now,
    )
    await web.login_as("owner")
    html = (await web.client.get(f"/ws/acme/oncall/schedules/{both.id}")).text
    assert "Ann is both in the rotation and the backup" in section(html, "backup-in-rotation")
    html = (await web.client.get(f"/ws/acme/oncall/schedules/{apart.id}")).text
    assert 'id="backup-in-rotation"' not in html
    confirm = re.search(r'data-confirm="([^"]+)"', html)
    assert confirm and "Deactivate Apart?" in confirm.group(1) and "Ben (the backup) at once" in confirm.group(1)
    html = (await web.client.get(f"/ws/acme/oncall/schedules/{lonely.id}")).text
    confirm = re.search(r'data-confirm="([^"]+)"', html)
    assert confirm and "pages nobody, since it has no backup" in confirm.group(1)


# ---------------------------------------------------------------- API


async def test_api_unknown_fields_are_named_and_is_active_is_taken(web: Web) -> None:
    team = web.team
    body = schedule_body(team, "Api", ["ann"], "ben", _now() - datetime.timedelta(hours=1))
    unknown = await web.client.post("/api/v1/ws/acme/schedules", json={**body, "colour": "red"}, headers=web.auth)
    assert unknown.status_code == 422, unknown.text
    assert any(e["field"] == "colour" for e in unknown.json()["errors"]), unknown.json()
    listed = (await web.client.get("/api/v1/ws/acme/schedules", headers=web.auth)).json()
    assert listed == []

    created = await web.client.post("/api/v1/ws/acme/schedules", json={**body, "is_active": False}, headers=web.auth)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["is_active"] is False
    path = f"/api/v1/ws/acme/schedules/{schedule['id']}"
    assert (await web.client.get(path, headers=web.auth)).json()["is_active"] is False

    bad_patch = await web.client.patch(path, json={"is_active": True, "owner": "x"}, headers=web.auth)
    assert bad_patch.status_code == 422
    assert any(e["field"] == "owner" for e in bad_patch.json()["errors"]), bad_patch.json()
    assert (await web.client.get(path, headers=web.auth)).json()["is_active"] is False

    on = await web.client.patch(path, json={"is_active": True}, headers=web.auth)
    assert on.status_code == 200, on.text
    assert on.json()["is_active"] is True
    off = await web.client.patch(path, json={"is_active": False, "name": "Api 2"}, headers=web.auth)
    assert off.status_code == 200, off.text
    assert (off.json()["is_active"], off.json()["name"]) == (False, "Api 2")
    same = await web.client.patch(path, json={"is_active": False}, headers=web.auth)
    assert same.status_code == 200 and same.json()["is_active"] is False

    active = await web.client.post(
        "/api/v1/ws/acme/schedules", json={**body, "name": "On", "is_active": True}, headers=web.auth
    )
    assert active.status_code == 201 and active.json()["is_active"] is True

    incident = await web.client.post(
        "/api/v1/ws/acme/incidents",
        json={"title": "x", "severity": "SEV2", "schedule_id": active.json()["id"], "priority": 1},
        headers=web.auth,
    )
    assert incident.status_code == 422
    assert any(e["field"] == "priority" for e in incident.json()["errors"]), incident.json()


# ---------------------------------------------------------------- one request per refresh


async def test_the_poller_answers_every_live_part_once(web: Web, db: AsyncSession) -> None:
    await make_paging_schedule(db, web.team, 30)
    await web.login_as("owner")
    full = (await web.client.get("/ws/acme/oncall/")).text
    assert full.count('id="oncall-poller"') == 1
    poller = re.search(r'<div id="oncall-poller"[^>]*>', full)
    assert poller and re.search(r'hx-get="/ws/acme/oncall/\?live=board&(amp;)?handoffs=\d+', poller.group(0)), poller
    for part in ("oncall-highlight", "oncall-rows", "oncall-handoffs"):
        assert full.count(f'id="{part}"') == 1
        assert not re.search(rf'id="{part}"[^>]*hx-get', full), f"{part} polls on its own"

    live = await web.client.get(
        "/ws/acme/oncall/?live=board&handoffs=10", headers={"HX-Request": "true", "HX-Target": "oncall-poller"}
    )
    assert live.status_code == 200
    text = live.text
    assert "<html" not in text.lower()
    assert text.count('id="oncall-poller"') == 1
    for part in ("oncall-highlight", "oncall-rows", "oncall-handoffs"):
        assert text.count(f'id="{part}"') == 1, part
        assert re.search(rf'id="{part}"[^>]*hx-swap-oob="true"', text), part
    assert text.count("<table") == 1  # one board
    assert "Ops" in text and "Ann" in text

    assert text.count('id="oncall-swaps"') == 1  # the swap list is one of the parts, not a request of its own

    # A schedule page is about its schedule: one part of its own that refreshes itself, no workspace board.
    schedule = (await web.client.get("/ws/acme/oncall/")).text
    sid = re.search(r'/ws/acme/oncall/schedules/([0-9a-f-]{36})"', schedule)
    assert sid
    page = (await web.client.get(f"/ws/acme/oncall/schedules/{sid.group(1)}")).text
    assert page.count('id="schedule-status"') == 1
    assert 'id="oncall-highlight"' not in page and 'id="oncall-poller"' not in page
    status = await web.client.get(
        f"/ws/acme/oncall/schedules/{sid.group(1)}", headers={"HX-Request": "true", "HX-Target": "schedule-status"}
    )
    assert status.text.count('id="schedule-status"') == 1 and "<html" not in status.text.lower()


# ---------------------------------------------------------------- test page


async def test_send_test_page_reaches_the_fakes_and_shows_its_states(
    web: Web, db: AsyncSession, fake_twilio: FakeServer, fake_slack: FakeServer
) -> None:
    ann = web.team["ann"]
    await web.login_as("ann")
    profile = "/ws/acme/profile/"
    before = (await web.client.get(profile)).text
    assert "Send test page" in before and 'id="test-page-states"' not in before
    sent = await web.post("/ws/acme/profile/test-page", {}, profile)
    assert sent.status_code == 303, sent.text

    async def both_sent() -> bool:
        sms = [c for c in fake_twilio.calls("/Messages.json") if c.form.get("To") == ann.phone]
        dms = [c for c in fake_slack.calls("chat.postMessage") if "TEST" in str(c.params.get("text", ""))]
        return bool(sms) and bool(dms)

    await until(both_sent)
    sms = next(c for c in fake_twilio.calls("/Messages.json") if c.form.get("To") == ann.phone)
    assert "TEST" in sms.form["Body"]
    opened = {c.params.get("users") for c in fake_slack.calls("conversations.open")}
    assert ann.slack_user_id in opened
    dm = next(c for c in fake_slack.calls("chat.postMessage") if "TEST" in str(c.params.get("text", "")))
    assert str(dm.params.get("channel", "")).startswith("D")
    assert "Nothing to do" in dm.params["text"] or "nothing to do" in dm.params["text"]

    async def shown() -> bool:
        html = (await web.client.get(profile)).text
        return 'id="test-page-states"' in html and "waiting" not in section(html, "test-page-states")

    await until(shown)
    states = section((await web.client.get(profile)).text, "test-page-states")
    assert "SMS: accepted by Twilio" in states
    assert "Slack DM: posted" in states

    # Twilio's callback on the test SMS: delivered.
    row = await sms_row(db, ann.phone)
    body, headers = status_request(web.settings, {"MessageSid": row.provider_id or "", "MessageStatus": "delivered"})
    assert (await web.client.post(STATUS_PATH, content=body, headers=headers)).status_code == 200
    assert "SMS: delivered" in section((await web.client.get(profile)).text, "test-page-states")

    # A second test page: only the latest shows.
    assert (await web.post("/ws/acme/profile/test-page", {}, profile)).status_code == 303

    async def second() -> bool:
        return len([c for c in fake_twilio.calls("/Messages.json") if c.form.get("To") == ann.phone]) == 2

    await until(second)
    states = section((await web.client.get(profile)).text, "test-page-states")
    assert states.count("<li") == 2, states


async def test_test_page_without_contact_points_says_so(plain_web: Web, db: AsyncSession) -> None:
    from app.db.models import UserProfile
    from app.db.transactions import writing

    async with writing(db):
        user = await db.get_one(UserProfile, plain_web.team["ann"].id, populate_existing=True)
        user.phone_verified_at = None
        user.slack_verified_at = None
    await plain_web.login_as("ann")
    answer = await plain_web.post("/ws/acme/profile/test-page", {}, "/ws/acme/profile/")
    assert answer.status_code == 422
    assert "has no verified phone number or Slack identity" in answer.text


# ---------------------------------------------------------------- lists that scale


async def test_handoffs_filter_by_schedule_and_only_mine(web: Web, db: AsyncSession) -> None:
    now = _now()
    ops = await create_schedule(
        db,
        web.team.workspace.id,
        schedule_body(web.team, "Ops", ["ann", "ben"], None, now - datetime.timedelta(hours=1)),
        now,
    )
    await create_schedule(
        db,
        web.team.workspace.id,
        schedule_body(web.team, "Edge", ["ben"], None, now + datetime.timedelta(hours=5)),
        now,
    )
    await web.login_as("ann")

    def listed(html: str) -> list[str]:
        return re.findall(r"</span> ·\s+(Ops|Edge):", section(html, "oncall-handoffs"))

    everything = listed((await web.client.get("/ws/acme/oncall/")).text)
    assert "Ops" in everything and "Edge" in everything
    only_ops = listed((await web.client.get(f"/ws/acme/oncall/?handoff_schedule={ops.id}")).text)
    assert only_ops and set(only_ops) == {"Ops"}
    fragment = await web.client.get(
        f"/ws/acme/oncall/?handoff_schedule={ops.id}", headers={"HX-Request": "true", "HX-Target": "oncall-handoffs"}
    )
    assert "<html" not in fragment.text.lower() and set(listed(fragment.text)) == {"Ops"}
    # Only mine: Edge is Ben's alone, so Ann sees only hand-offs to or from her.
    mine = (await web.client.get("/ws/acme/oncall/?mine=1")).text
    assert set(listed(mine)) == {"Ops"}
    rows = re.findall(r"<li><time.*?</li>", section(mine, "oncall-handoffs"), re.S)
    assert rows and all("Ann" in row for row in rows)
