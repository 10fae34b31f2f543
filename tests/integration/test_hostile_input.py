"""Hostile input on both databases: huge strings, markup and script, impossible dates, unknown and
malformed ids, through the pages, the JSON API and the Slack and Twilio webhooks.

Each refusal is a clear 4xx (a form message beside the field, an error page, or a problem detail
naming the field) and leaves every row as it was. What is accepted (a name with markup in it) is
stored as typed and only ever rendered escaped.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from app.config import Settings
from app.db.models import (
    ApiToken,
    DeliveryLog,
    Incident,
    IncidentResponder,
    Membership,
    OnCallSchedule,
    OnCallSlot,
    Page,
    RotationMember,
    SwapRequest,
    TimelineEntry,
    UserProfile,
    Workspace,
)
from app.domain.roles import Role
from app.main import create_app
from app.services.tokens import issue_token
from tests.factories import PASSWORD, fresh, make_paging_schedule, make_team
from tests.fakes.servers import FakeServer
from tests.integration.test_acks import SMS_URL, reaction, slack_request, sms_request, until
from tests.web import csrf_token, login
from tests.web import schedule_form as web_schedule_form

ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "vic": Role.VIEWER}
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
IMG_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
HUGE = "A" * 100_000  # 100 KB
UNKNOWN_IDS = (str(uuid.uuid4()), "abc", "..%2F..%2Fetc%2Fpasswd", "%00", "1 OR 1=1")
MODELS = (
    Workspace,
    UserProfile,
    Membership,
    ApiToken,
    OnCallSchedule,
    RotationMember,
    OnCallSlot,
    SwapRequest,
    Incident,
    Page,
    IncidentResponder,
    TimelineEntry,
    DeliveryLog,
)
WEBHOOK_LIMIT = 256 * 1024


# ---------------------------------------------------------------- helpers


async def snapshot(db: AsyncSession) -> dict[str, list[str]]:
    """Every row of every table that holds what people did (sessions and login throttling aside)."""
    session = await fresh(db)
    tables: dict[str, list[str]] = {}
    for model in MODELS:
        table = model.__table__  # type: ignore[attr-defined]
        rows = (await session.execute(select(table))).all()
        tables[table.name] = sorted(repr(tuple(row)) for row in rows)
    await session.commit()
    return tables


def changed(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def assert_no_markup(html: str) -> None:
    """None of the markup someone typed comes back as markup."""
    assert "<script>alert" not in html
    assert "<img src=x" not in html


def assert_escaped(html: str, *payloads: str) -> None:
    """The markup someone typed shows as text: never the raw tag, always its escaped form."""
    assert_no_markup(html)
    for payload in payloads:
        escaped = {SCRIPT: SCRIPT_ESCAPED, IMG: IMG_ESCAPED}[payload]
        assert escaped in html, f"{escaped!r} not on the page"


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    if field is not None:
        # A list item is named by its index: members[0] is the members field.
        assert any(e["field"] == field or e["field"].startswith(field + "[") for e in body["errors"]), body
        assert all(e["message"] for e in body["errors"])
    return body


def form_error(html: str, field: str) -> str:
    """The message shown beside `field` (by the id the templates give it)."""
    marker = f'id="{field}-error"'
    assert marker in html, f"no error beside {field}: {html[:3000]}"
    return html.split(marker, 1)[1].split(">", 1)[1].split("</p>", 1)[0]


async def submit(client: AsyncTestClient[Any], path: str, data: dict[str, str]) -> Any:
    """Post a form as the browser would, with the CSRF token the page carries (the cookie's value)."""
    token = client.cookies.get("vigilo_csrf") or await csrf_token(client, "/ws/acme/profile/")
    return await client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)


def schedule_form(team: Any, **extra: str) -> dict[str, str]:
    return web_schedule_form([team["ann"].email, team["ben"].email], team["owner"].email, **extra)


async def set_zone(db: AsyncSession, user: UserProfile, zone: str) -> None:
    session = await fresh(db)
    row = await session.get_one(UserProfile, user.id)
    row.time_zone = zone
    await session.commit()


@pytest.fixture
async def web(settings: Settings, db: AsyncSession) -> Any:
    """The owner logged in; ann is on call on a daily schedule (started an hour ago), ben the backup."""
    team = await make_team(db, roles=ROLES)
    schedule = await make_paging_schedule(db, team, 15)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "owner@acme.test", PASSWORD)
        yield client, team, schedule, {"Authorization": f"Bearer {token}"}


async def future_slot(db: AsyncSession, schedule: OnCallSchedule) -> OnCallSlot:
    now = datetime.datetime.now(datetime.UTC)
    slot = await (await fresh(db)).scalar(
        select(OnCallSlot)
        .where(OnCallSlot.schedule_id == schedule.id, OnCallSlot.start_time > now)
        .order_by(OnCallSlot.start_time)
        .limit(1)
    )
    assert slot is not None
    return slot


# ---------------------------------------------------------------- HTML forms

NEW = "/ws/acme/oncall/schedules/new"
NUL = "Ops\x00down"  # PostgreSQL cannot store a NUL character; SQLite can: both must answer alike

# (fields, field whose message is shown, words of the message)
SCHEDULE_FORM_CASES: list[tuple[dict[str, str], str, str]] = [
    ({"name": HUGE}, "name", "under 120 characters"),
    ({"name": SCRIPT * 10}, "name", "under 120 characters"),
    ({"starts_at": "2026-02-30T09:00"}, "starts_at", "ISO 8601"),
    ({"starts_at": "0000-01-01T00:00"}, "starts_at", "ISO 8601"),
    ({"starts_at": "99999-01-01T00:00"}, "starts_at", "ISO 8601"),
    # Real dates whose instant falls off the calendar once the zone's offset is applied.
    ({"starts_at": "0001-01-01T00:00", "timezone": "Asia/Tokyo"}, "starts_at", ""),
    ({"starts_at": "9999-12-31T23:00", "timezone": "America/New_York"}, "starts_at", ""),
    ({"handoff_time": "25:00"}, "handoff_time", ""),
    ({"handoff_time": "24:00"}, "handoff_time", ""),
    ({"handoff_weekday": "7"}, "handoff_weekday", ""),
    ({"handoff_weekday": "-1"}, "handoff_weekday", ""),
    ({"escalation_delay_minutes": "1e400"}, "escalation_delay_minutes", ""),
    ({"escalation_delay_minutes": "NaN"}, "escalation_delay_minutes", ""),
    ({"escalation_delay_minutes": "9" * 60}, "escalation_delay_minutes", ""),
    ({"rotation": "custom", "shift_length": "0"}, "shift_hours", ""),
    ({"rotation": "custom", "shift_length": "9" * 40}, "shift_hours", ""),
    ({"timezone": "../../../../etc/passwd"}, "timezone", "not an IANA time zone"),
    ({"timezone": HUGE}, "timezone", "not an IANA time zone"),
    ({"member_0": SCRIPT}, "members", ""),
    ({"escalation_to": IMG}, "escalation_to", ""),
]


async def test_schedule_forms_refuse_hostile_fields(web: Any, db: AsyncSession, subtests: pytest.Subtests) -> None:
    """The new-schedule form and the edit form of an existing one; the anchor only matters when creating."""
    client, team, schedule, _ = web
    edit = f"/ws/acme/oncall/schedules/{schedule.id}/edit"
    before = await snapshot(db)
    for path in (NEW, edit):
        for fields, field, message in SCHEDULE_FORM_CASES:
            if path == edit and field == "starts_at":
                continue
            with subtests.test(msg=f"{path} {field}={next(iter(fields.values()))[:40]!r}"):
                response = await submit(client, path, schedule_form(team, **fields))
                assert response.status_code == 422, response.text[:2000]
                assert message in form_error(response.text, field)
                assert_no_markup(response.text)
                assert changed(before, await snapshot(db)) == []


async def test_schedule_forms_store_markup_as_typed_render_it_escaped_and_read_dst_gaps_per_rfc_5545(
    web: Any, db: AsyncSession
) -> None:
    client, team, _, auth = web
    name = f"Ops {SCRIPT}{IMG}"
    created = await submit(client, NEW, schedule_form(team, name=name))
    assert created.status_code == 303, created.text[:2000]
    stored = await (await fresh(db)).scalar(select(OnCallSchedule).where(OnCallSchedule.name == name))
    assert stored is not None
    for path in (
        created.headers["location"],
        f"/ws/acme/oncall/schedules/{stored.id}/edit",
        f"/ws/acme/oncall/schedules/{stored.id}/handoff",
        "/ws/acme/oncall/",
        "/ws/acme/incidents/",
    ):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.text, SCRIPT, IMG)
    # The API is data, not markup: it gives the name back exactly as typed, as JSON.
    api = await client.get(f"/api/v1/ws/acme/schedules/{stored.id}", headers=auth)
    assert api.headers["content-type"].startswith("application/json")
    assert api.json()["name"] == name
    # 02:30 on Berlin's spring-forward night does not exist: it is read with the offset before the gap.
    gap = await submit(client, NEW, schedule_form(team, name="Gap", starts_at="2027-03-28T02:30"))
    assert gap.status_code == 303, gap.text[:2000]
    anchor = await (await fresh(db)).scalar(select(OnCallSchedule.rotation_start).where(OnCallSchedule.name == "Gap"))
    assert anchor == datetime.datetime(2027, 3, 28, 1, 30, tzinfo=datetime.UTC)


async def test_text_with_a_nul_character_is_refused_or_cleaned_alike_on_both_databases(
    web: Any, db: AsyncSession
) -> None:
    client, team, schedule, _ = web
    for path, data in (
        (NEW, schedule_form(team, name=NUL)),
        ("/ws/acme/incidents/", {"title": NUL, "severity": "SEV3", "schedule_id": str(schedule.id)}),
        ("/ws/acme/profile/", {"display_name": NUL, "phone": "", "slack_user_id": "", "time_zone": "UTC"}),
    ):
        response = await submit(client, path, data)
        assert response.status_code in {303, 422}, (path, response.status_code, response.text[:500])
    session = await fresh(db)
    for text in [
        *await session.scalars(select(OnCallSchedule.name)),
        *await session.scalars(select(Incident.title)),
        *await session.scalars(select(UserProfile.display_name)),
    ]:
        assert "\x00" not in text


def slot_cases(now: datetime.datetime) -> list[tuple[dict[str, str], str, str]]:
    later, sooner = now + datetime.timedelta(days=3), now + datetime.timedelta(days=2)
    return [
        ({"start": "2026-02-30T09:00"}, "slot-start", "ISO 8601"),
        ({"start": "0000-01-01T00:00"}, "slot-start", "ISO 8601"),
        ({"start": "99999-01-01T00:00"}, "slot-start", "ISO 8601"),
        ({"start": "0001-01-01T00:00"}, "slot-start", ""),
        ({"end": "2026-13-01T09:00"}, "slot-end", "ISO 8601"),
        ({"end": "2026-12-01T25:00"}, "slot-end", "ISO 8601"),
        (
            {"start": later.strftime("%Y-%m-%dT%H:%M"), "end": sooner.strftime("%Y-%m-%dT%H:%M")},
            "slot-end",
            "after the start",
        ),
        ({"user": SCRIPT}, "slot-user", "not an active member"),
        ({"user": HUGE}, "slot-user", "not an active member"),
        ({"user": "vic@acme.test"}, "slot-user", "not an active member"),
    ]


HANDOFF_CASES: list[tuple[dict[str, str], str, str]] = [
    ({"at": "2026-02-30T10:00"}, "handoff-at", "ISO 8601"),
    ({"at": "99999-01-01T00:00"}, "handoff-at", "ISO 8601"),
    ({"at": "0001-01-01T00:00"}, "handoff-at", ""),
    ({"at": "2020-01-01T00:00"}, "handoff-at", "past"),
    ({"to": SCRIPT}, "handoff-to", "not an active member"),
    ({"to": HUGE}, "handoff-to", "not an active member"),
]


async def test_slot_and_handoff_dialogs_refuse_hostile_fields(
    web: Any, db: AsyncSession, subtests: pytest.Subtests
) -> None:
    client, team, schedule, _ = web
    await set_zone(db, team["owner"], "Asia/Tokyo")  # east of UTC, so year 1 at midnight is before year 1 in UTC
    slot = await future_slot(db, schedule)
    slot_path = f"/ws/acme/oncall/slots/{slot.id}"
    handoff_path = f"/ws/acme/oncall/schedules/{schedule.id}/handoff"
    before = await snapshot(db)
    cases = [
        (slot_path, {"user": team["ben"].email, "start": "", "end": "", **fields}, field, message)
        for fields, field, message in slot_cases(datetime.datetime.now(datetime.UTC))
    ] + [
        (handoff_path, {"to": team["ben"].email, "at": "", **fields}, field, message)
        for fields, field, message in HANDOFF_CASES
    ]
    for path, form, field, message in cases:
        with subtests.test(msg=f"{path} {field} {form}"[:200]):
            response = await submit(client, path, form)
            assert response.status_code == 422, response.text[:2000]
            assert message in form_error(response.text, field)
            assert_no_markup(response.text)
            assert changed(before, await snapshot(db)) == []
    # Removing a rotation slot (not an override) is refused the same way.
    with subtests.test(msg="remove a rotation slot"):
        response = await submit(client, slot_path + "/remove", {})
        assert response.status_code == 422, response.text[:2000]
        assert "Only overrides can be removed" in response.text
        assert changed(before, await snapshot(db)) == []


async def test_profile_refuses_hostile_fields_and_renders_a_marked_up_name_escaped(web: Any, db: AsyncSession) -> None:
    client, team, schedule, _ = web
    before = await snapshot(db)
    response = await submit(client, "/ws/acme/profile/", {"display_name": HUGE, "time_zone": "../../../../etc/passwd"})
    assert response.status_code == 422
    for message in ("under 120 characters", "not an IANA time zone"):
        assert message in response.text
    phone = await submit(client, "/ws/acme/profile/contact/phone/send", {"phone": SCRIPT})
    assert phone.status_code == 422
    assert "E.164" in phone.text
    slack = await submit(client, "/ws/acme/profile/contact/slack/send", {"slack_user_id": IMG})
    assert slack.status_code == 422
    assert "Slack member id" in slack.text
    assert_escaped(phone.text + slack.text, SCRIPT, IMG)  # what was typed comes back in the form, as text
    assert changed(before, await snapshot(db)) == []

    for person, name in (("owner", SCRIPT), ("ann", IMG)):
        if person == "ann":
            await client.get("/logout")
            await login(client, "ann@acme.test", PASSWORD)
        saved = await submit(client, "/ws/acme/profile/", {"display_name": name, "time_zone": "UTC"})
        assert saved.status_code == 303, saved.text[:2000]
        assert (await (await fresh(db)).get_one(UserProfile, team[person].id)).display_name == name
    # ann, on call now, shows on the board, the calendar and her own home page; both show in People.
    for path, shown in (
        ("/ws/acme/people/", (SCRIPT, IMG)),
        ("/ws/acme/oncall/", (IMG,)),
        (f"/ws/acme/oncall/schedules/{schedule.id}", (IMG,)),
        ("/ws/acme/", (IMG,)),
    ):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.text, *shown)


ADD_PERSON_CASES: list[tuple[dict[str, str], str]] = [
    ({"email": SCRIPT}, "email address"),
    ({"email": HUGE + "@acme.test"}, "email address"),
    ({"email": "new@acme.test", "role": "god"}, "Choose viewer, member, admin or owner"),
    ({"email": "new@acme.test", "role": SCRIPT}, "Choose viewer, member, admin or owner"),
]


async def test_people_forms_refuse_hostile_fields_and_ids(
    web: Any, db: AsyncSession, subtests: pytest.Subtests
) -> None:
    client, team, _, _ = web
    before = await snapshot(db)
    for fields, message in ADD_PERSON_CASES:
        with subtests.test(msg=f"add {fields}"[:120]):
            data = {"email": "", "role": "member", **fields}  # the invitation form
            response = await submit(client, "/ws/acme/people/", data)
            assert response.status_code == 422, response.text[:2000]
            assert message in response.text
            assert_no_markup(response.text)
    for bad in UNKNOWN_IDS:
        with subtests.test(msg=f"change membership {bad}"):
            response = await submit(client, f"/ws/acme/people/{bad}", {"role": "owner", "is_active": "on"})
            assert response.status_code == 404, response.text[:500]
            assert "no such member" in response.text.lower() or "not found" in response.text.lower()
    membership = await (await fresh(db)).scalar(select(Membership).where(Membership.user_id == team["ann"].id))
    assert membership is not None
    response = await submit(client, f"/ws/acme/people/{membership.id}", {"role": SCRIPT, "is_active": "on"})
    assert response.status_code == 422
    assert "Choose viewer, member, admin or owner" in response.text
    assert_no_markup(response.text)
    assert changed(before, await snapshot(db)) == []


INCIDENT_FORM_CASES: list[tuple[dict[str, str], str, str]] = [
    ({"title": HUGE}, "title", "under 200 characters"),
    ({"title": "   "}, "title", "what is wrong"),
    ({"severity": "SEV9"}, "severity", "SEV1, SEV2, SEV3 or SEV4"),
    ({"severity": SCRIPT}, "severity", "SEV1, SEV2, SEV3 or SEV4"),
    ({"schedule_id": str(uuid.uuid4())}, "schedule_id", "schedule of this workspace"),
    ({"schedule_id": "abc"}, "schedule_id", "schedule of this workspace"),
    ({"schedule_id": "../../etc/passwd"}, "schedule_id", "schedule of this workspace"),
]


async def test_incident_form_refuses_hostile_fields_and_renders_a_marked_up_title_escaped(
    web: Any, db: AsyncSession, subtests: pytest.Subtests
) -> None:
    client, _, schedule, _ = web
    before = await snapshot(db)
    for fields, field, message in INCIDENT_FORM_CASES:
        with subtests.test(msg=f"{field}={next(iter(fields.values()))[:40]!r}"):
            data = {"title": "Database down", "severity": "SEV2", "schedule_id": str(schedule.id), **fields}
            response = await submit(client, "/ws/acme/incidents/", data)
            assert response.status_code == 422, response.text[:2000]
            assert message in response.text
            if field != "severity":  # the severity picker shows its message without an id
                assert message in form_error(response.text, field)
            assert_no_markup(response.text)
            assert changed(before, await snapshot(db)) == []

    title = f"API {SCRIPT} {IMG}"
    declared = await submit(
        client, "/ws/acme/incidents/", {"title": title, "severity": "SEV2", "schedule_id": str(schedule.id)}
    )
    assert declared.status_code == 303, declared.text[:2000]
    assert await (await fresh(db)).scalar(select(Incident.title)) == title
    for path in (declared.headers["location"], "/ws/acme/incidents/"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.text, SCRIPT, IMG)


PAGE_PATHS_WITH_IDS: list[tuple[str, str]] = [
    ("GET", "/ws/acme/oncall/schedules/{id}"),
    ("GET", "/ws/acme/oncall/schedules/{id}/edit"),
    ("POST", "/ws/acme/oncall/schedules/{id}/edit"),
    ("POST", "/ws/acme/oncall/schedules/{id}/extend"),
    ("POST", "/ws/acme/oncall/schedules/{id}/regenerate"),
    ("POST", "/ws/acme/oncall/schedules/{id}/active"),
    ("POST", "/ws/acme/oncall/schedules/{id}/delete"),
    ("GET", "/ws/acme/oncall/schedules/{id}/handoff"),
    ("POST", "/ws/acme/oncall/schedules/{id}/handoff"),
    ("GET", "/ws/acme/oncall/slots/{id}/edit"),
    ("POST", "/ws/acme/oncall/slots/{id}"),
    ("POST", "/ws/acme/oncall/slots/{id}/remove"),
    ("POST", "/ws/acme/oncall/swaps/{id}/accept"),
    ("GET", "/ws/acme/incidents/{id}"),
    ("POST", "/ws/acme/incidents/{id}/ack"),
    ("POST", "/ws/acme/incidents/{id}/decline"),
    ("POST", "/ws/acme/incidents/{id}/resolve"),
    ("POST", "/ws/acme/settings/tokens/{id}/revoke"),
    ("GET", "/ws/{id}/oncall/"),
]


async def test_unknown_and_malformed_ids_in_pages_are_404(
    web: Any, db: AsyncSession, subtests: pytest.Subtests
) -> None:
    client, team, _, _ = web
    before = await snapshot(db)
    token = await csrf_token(client, "/ws/acme/profile/")
    form = {"user": team["ben"].email, "to": team["ben"].email, "_csrf_token": token}
    swap = {"slot": str(uuid.uuid4()), "their_slot": "abc", "_csrf_token": token}
    for method, path in PAGE_PATHS_WITH_IDS:
        for bad in UNKNOWN_IDS:
            url = path.format(id=bad)
            with subtests.test(msg=f"{method} {url}"):
                if method == "GET":
                    response = await client.get(url)
                else:
                    response = await client.post(url, data=form, follow_redirects=False)
                assert response.status_code == 404, (response.status_code, response.text[:500])
                assert "text/html" in response.headers["content-type"]
                assert "404" in response.text
    with subtests.test(msg="propose a swap of unknown slots"):
        response = await client.post("/ws/acme/oncall/swaps", data=swap, follow_redirects=False)
        assert response.status_code in {303, 404}, response.text[:500]
    assert changed(before, await snapshot(db)) == []


async def test_hostile_query_strings_on_pages(web: Any, db: AsyncSession, subtests: pytest.Subtests) -> None:
    client, _, schedule, _ = web
    before = await snapshot(db)
    board = await client.get("/ws/acme/oncall/", params={"notice": SCRIPT, "error": IMG})
    assert board.status_code == 200
    # Notices come from the server (flashed), never from the URL: a crafted one shows nothing at all.
    assert_no_markup(board.text)
    assert "alert(1)" not in board.text
    calendar = f"/ws/acme/oncall/schedules/{schedule.id}"
    for params in (
        {"week": "2026-02-30"},
        {"week": "0001-01-01"},
        {"week": "9999-12-31"},
        {"week": HUGE[:5000]},
        {"weeks": "-3"},
        {"weeks": "9" * 40},
        {"notice": SCRIPT, "error": IMG},
    ):
        with subtests.test(msg=str(params)[:80]):
            page = await client.get(calendar, params=params)
            assert page.status_code in {200, 400, 422}, (page.status_code, page.text[:500])
            assert_no_markup(page.text)
            assert "alert(1)" not in page.text
    bad_number = await client.get("/ws/acme/oncall/", params={"handoffs": "lots"})
    assert bad_number.status_code == 400
    assert "handoffs" in bad_number.text
    assert changed(before, await snapshot(db)) == []


# ---------------------------------------------------------------- the JSON API


def api_schedule(team: Any, **extra: Any) -> dict[str, Any]:
    return {
        "name": "Platform",
        "rotation": "daily",
        "timezone": "Europe/Berlin",
        "handoff_time": "09:00",
        "members": [team["ann"].email, team["ben"].email],
        **extra,
    }


API_SCHEDULE_CASES: list[tuple[dict[str, Any], str]] = [
    ({"name": HUGE}, "name"),
    ({"name": 42}, "name"),
    ({"name": NUL}, "name"),
    ({"starts_at": "2026-02-30T09:00:00+01:00"}, "starts_at"),
    ({"starts_at": "0000-01-01T00:00:00Z"}, "starts_at"),
    ({"starts_at": "99999-01-01T00:00:00Z"}, "starts_at"),
    ({"starts_at": "0001-01-01T00:00:00+05:00"}, "starts_at"),
    ({"starts_at": "9999-12-31T23:00:00-05:00"}, "starts_at"),
    ({"handoff_time": "25:00"}, "handoff_time"),
    ({"handoff_time": "24:00"}, "handoff_time"),
    ({"handoff_time": SCRIPT}, "handoff_time"),
    ({"timezone": "../../../../etc/passwd"}, "timezone"),
    ({"escalation_delay_minutes": 1.5}, "escalation_delay_minutes"),
    ({"escalation_delay_minutes": 10**30}, "escalation_delay_minutes"),
    ({"escalation_delay_minutes": -1}, "escalation_delay_minutes"),
    ({"members": [f"p{i}@acme.test" for i in range(5000)]}, "members"),
    ({"members": [SCRIPT]}, "members"),
    ({"members": ["ann@acme.test\x00"]}, "members"),
    ({"members": "ann@acme.test"}, "members"),
    ({"escalation_to": IMG}, "escalation_to"),
    ({"rotation": "custom", "shift_hours": 10**30}, "shift_hours"),
]


async def test_api_schedule_with_hostile_fields_is_422_naming_the_field(
    web: Any, db: AsyncSession, subtests: pytest.Subtests
) -> None:
    client, team, schedule, auth = web
    before = await snapshot(db)
    for extra, field in API_SCHEDULE_CASES:
        with subtests.test(msg=f"{field}={str(next(iter(extra.values())))[:40]!r}"):
            response = await client.post("/api/v1/ws/acme/schedules", json=api_schedule(team, **extra), headers=auth)
            assert_problem(response, 422, field)
            if field != "starts_at":  # the anchor never moves, so a change does not take it
                patched = await client.patch(f"/api/v1/ws/acme/schedules/{schedule.id}", json=extra, headers=auth)
                assert_problem(patched, 422, field)
            assert changed(before, await snapshot(db)) == []


async def test_api_slots_handoffs_incidents_and_windows_with_hostile_fields(
    web: Any, db: AsyncSession, subtests: pytest.Subtests
) -> None:
    client, team, schedule, auth = web
    slot = await future_slot(db, schedule)
    before = await snapshot(db)
    now = datetime.datetime.now(datetime.UTC)
    later, sooner = (now + datetime.timedelta(days=3)).isoformat(), (now + datetime.timedelta(days=2)).isoformat()
    calls: list[tuple[str, str, dict[str, Any], str]] = [
        *(
            ("PATCH", f"/api/v1/ws/acme/slots/{slot.id}", body, field)
            for body, field in (
                ({"start": "2026-02-30T09:00:00Z"}, "start"),
                ({"end": "2026-12-01T25:00:00Z"}, "end"),
                ({"start": "0001-01-01T00:00:00+05:00"}, "start"),
                ({"end": "9999-12-31T23:00:00-05:00"}, "end"),
                ({"start": "2026-12-01T09:00:00"}, "start"),  # no offset: refused, not guessed
                ({"start": later, "end": sooner}, "end"),
                ({"user": SCRIPT}, "user"),
                ({"user": HUGE}, "user"),
                ({"user": "ann@acme.test\x00"}, "user"),
                ({"user": 7}, "user"),
            )
        ),
        *(
            ("POST", f"/api/v1/ws/acme/schedules/{schedule.id}/handoff", body, field)
            for body, field in (
                ({"to": team["ben"].email, "at": "2026-02-30T10:00:00Z"}, "at"),
                ({"to": team["ben"].email, "at": "99999-01-01T00:00:00Z"}, "at"),
                ({"to": team["ben"].email, "at": "0001-01-01T00:00:00+05:00"}, "at"),
                ({"to": SCRIPT}, "to"),
                ({"to": HUGE}, "to"),
                ({"to": "ben@acme.test\x00"}, "to"),
                ({}, "to"),
            )
        ),
        *(
            (
                "POST",
                "/api/v1/ws/acme/incidents",
                {"title": "x", "severity": "SEV1", "schedule_id": str(schedule.id), **body},
                field,
            )
            for body, field in (
                ({"title": HUGE}, "title"),
                ({"title": NUL}, "title"),
                ({"title": ["x"]}, "title"),
                ({"severity": SCRIPT}, "severity"),
                ({"schedule_id": "../../etc/passwd"}, "schedule_id"),
                ({"schedule_id": str(uuid.uuid4())}, "schedule_id"),
            )
        ),
        ("POST", "/api/v1/ws/acme/incidents", {"severity": "SEV1", "schedule_id": str(schedule.id)}, "title"),
        ("POST", f"/api/v1/ws/acme/schedules/{schedule.id}/regenerate", {"from": "0001-01-01T00:00:00+05:00"}, "from"),
        ("POST", f"/api/v1/ws/acme/schedules/{schedule.id}/regenerate", {"from": "2026-02-30T00:00:00Z"}, "from"),
    ]
    for method, url, body, field in calls:
        with subtests.test(msg=f"{method} {url} {field}={str(body.get(field))[:40]!r}"):
            assert_problem(await client.request(method, url, json=body, headers=auth), 422, field)
    for path, params, field in (
        ("oncall", {"at": "0001-01-01T00:00:00+05:00"}, "at"),
        ("oncall", {"at": "9999-12-31T23:00:00-05:00"}, "at"),
        ("oncall", {"at": SCRIPT}, "at"),
        ("slots", {"start": "0001-01-01T00:00:00+05:00"}, "start"),
        ("slots", {"start": "2026-01-01T00:00:00Z", "end": "9999-12-31T23:00:00-05:00"}, "end"),
        ("slots", {"start": "2026-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, "end"),
    ):
        with subtests.test(msg=f"GET {path} {params}"):
            response = await client.get(f"/api/v1/ws/acme/schedules/{schedule.id}/{path}", params=params, headers=auth)
            assert_problem(response, 422, field)
    assert changed(before, await snapshot(db)) == []


API_PATHS_WITH_IDS: list[tuple[str, str]] = [
    ("GET", "/api/v1/ws/acme/schedules/{id}"),
    ("PATCH", "/api/v1/ws/acme/schedules/{id}"),
    ("DELETE", "/api/v1/ws/acme/schedules/{id}"),
    ("GET", "/api/v1/ws/acme/schedules/{id}/slots"),
    ("GET", "/api/v1/ws/acme/schedules/{id}/oncall"),
    ("POST", "/api/v1/ws/acme/schedules/{id}/extend"),
    ("POST", "/api/v1/ws/acme/schedules/{id}/regenerate"),
    ("POST", "/api/v1/ws/acme/schedules/{id}/handoff"),
    ("PATCH", "/api/v1/ws/acme/slots/{id}"),
    ("DELETE", "/api/v1/ws/acme/slots/{id}"),
    ("GET", "/api/v1/ws/acme/incidents/{id}"),
    ("POST", "/api/v1/ws/acme/incidents/{id}/resolve"),
    ("GET", "/api/v1/ws/{id}/members"),
]


async def test_api_unknown_ids_and_unreadable_or_oversized_bodies(
    web: Any, db: AsyncSession, subtests: pytest.Subtests
) -> None:
    client, team, schedule, auth = web
    before = await snapshot(db)
    json_headers = {**auth, "content-type": "application/json"}
    for raw in (b"{", b"\x00", b"\xff\xfe", b'{"name": "x"' + b" " * 1000, b"NaN"):
        with subtests.test(msg=f"body {raw[:20]!r}"):
            response = await client.post("/api/v1/ws/acme/schedules", content=raw, headers=json_headers)
            assert_problem(response, 400, "body")
    for raw in (b"[]", b'"text"', b"null", b"42"):
        with subtests.test(msg=f"body {raw!r}"):
            response = await client.post("/api/v1/ws/acme/schedules", content=raw, headers=json_headers)
            assert response.status_code in {400, 422}, response.text
            assert_problem(response, response.status_code)
    with subtests.test(msg="a body over the app's request limit (10 MB), refused before it is parsed"):
        huge = json.dumps({"title": "x" * (11 * 1024 * 1024), "severity": "SEV1", "schedule_id": str(schedule.id)})
        response = await client.post("/api/v1/ws/acme/incidents", content=huge.encode(), headers=json_headers)
        assert_problem(response, 413)
    for method, path in API_PATHS_WITH_IDS:
        # A body each operation understands (an unknown field would be a 422 before the id is looked at).
        body = (
            None
            if method in {"GET", "DELETE"}
            else {"to": team["ben"].email}
            if path.endswith("/handoff")
            else {"user": team["ben"].email}
            if "/slots/" in path
            else {}
        )
        for bad in UNKNOWN_IDS:
            with subtests.test(msg=f"{method} {path.format(id=bad)}"):
                response = await client.request(method, path.format(id=bad), json=body, headers=auth)
                problem = assert_problem(response, 404)
                assert "No such" in problem["detail"] or "Not Found" in problem["detail"], problem
    assert changed(before, await snapshot(db)) == []


# ---------------------------------------------------------------- webhooks

EVENTS = "/integrations/slack/events"
SMS = "/integrations/twilio_sms/"


@pytest.fixture
async def paged(integration_settings: Settings, db: AsyncSession, fake_slack: FakeServer) -> Any:
    """INC-1 open, its post in the channel, ann paged; escalation is far away (15 minutes)."""
    team = await make_team(db, roles=ROLES)
    schedule = await make_paging_schedule(db, team, 15)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    auth = {"Authorization": f"Bearer {token}"}
    async with AsyncTestClient(app=create_app(integration_settings)) as client:
        created = await client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "API down", "severity": "SEV2", "schedule_id": str(schedule.id)},
            headers=auth,
        )
        assert created.status_code == 201, created.text

        async def delivered() -> bool:
            # The channel post and ann's SMS went out; nothing else is in flight.
            session = await fresh(db)
            posted = await session.scalar(select(Incident.slack_ts))
            busy = await session.scalar(
                select(func.count())
                .select_from(DeliveryLog)
                .where(DeliveryLog.status.in_(["pending", "retrying", "sending"]))
            )
            return bool(posted) and busy == 0

        await until(delivered)
        ts = await (await fresh(db)).scalar(select(Incident.slack_ts))
        yield client, team, integration_settings, ts, schedule, auth


async def settle(db: AsyncSession) -> dict[str, list[str]]:
    """A snapshot once the embedded worker has finished what was queued (it gets up to a second)."""
    previous = await snapshot(db)
    for _ in range(10):
        await asyncio.sleep(0.1)
        current = await snapshot(db)
        if current == previous:
            return current
        previous = current
    return previous


def added_rows(before: dict[str, list[str]], after: dict[str, list[str]], table: str) -> list[str]:
    return sorted(set(after[table]) - set(before[table]))


def slack_signed(settings: Settings, raw: bytes, timestamp: str | None = None) -> dict[str, str]:
    """Slack's signature over raw bytes (v0:timestamp:body), computed here so any bytes can be signed."""
    timestamp = timestamp or str(int(time.time()))
    secret = (settings.slack_signing_secret or "").encode()
    digest = hmac.new(secret, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/json",
    }


async def test_slack_refuses_bad_signatures_and_signed_bodies_that_are_not_events(
    paged: Any, db: AsyncSession, subtests: pytest.Subtests
) -> None:
    client, team, settings, ts, _, _ = paged
    event = reaction("C0INCIDENT", ts, team["ann"].slack_user_id, "white_check_mark")
    body, good = slack_request(settings, event)
    other_body_signature = slack_request(settings, {**event, "x": 1})[1]["X-Slack-Signature"]
    before = await settle(db)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("no signature", {k: v for k, v in good.items() if k != "X-Slack-Signature"}),
        ("no timestamp", {k: v for k, v in good.items() if k != "X-Slack-Request-Timestamp"}),
        ("signature of another body", {**good, "X-Slack-Signature": other_body_signature}),
        ("another scheme", {**good, "X-Slack-Signature": good["X-Slack-Signature"].replace("v0=", "v1=")}),
        ("ten minutes ahead", slack_request(settings, event, age=-600)[1]),
        ("a day old", slack_request(settings, event, age=24 * 3600)[1]),
        ("a timestamp that is not a number", {**good, "X-Slack-Request-Timestamp": "yesterday"}),
        ("a timestamp of 5000 digits", {**good, "X-Slack-Request-Timestamp": "9" * 5000}),
        ("a timestamp of 400 digits", {**good, "X-Slack-Request-Timestamp": "9" * 400}),
        ("a signature that is not ASCII", {**good, "X-Slack-Signature": ("v0=é" + "0" * 63).encode("latin-1")}),
    ]
    for label, headers in cases:
        with subtests.test(msg=label):
            response = await client.post(EVENTS, content=body, headers=headers)
            assert response.status_code == 401, (response.status_code, response.text[:300])
            assert "signature" in response.text
    after = await settle(db)
    assert changed(before, after) == ["delivery_log"]
    assert all("'rejected'" in row for row in added_rows(before, after, "delivery_log"))
    # Validly signed, but not a JSON object: 400, nothing recorded. (Bytes that are not UTF-8 cannot come
    # from Slack, and slack-sdk cannot check a signature over them: a 401 is as clear there.)
    before = after
    for raw in (b"{", b"\xff\xfe\x00", b"[1, 2]", b'"text"', b"null", b"NaN"):
        with subtests.test(msg=repr(raw)):
            response = await client.post(EVENTS, content=raw, headers=slack_signed(settings, raw))
            if raw.startswith(b"\xff"):
                assert response.status_code in {400, 401}, (response.status_code, response.text[:300])
            else:
                assert response.status_code == 400, (response.status_code, response.text[:300])
                assert "JSON" in response.text
    after = await settle(db)
    assert [t for t in changed(before, after) if t != "delivery_log"] == []
    assert all("'rejected'" in row for row in added_rows(before, after, "delivery_log"))  # a 401 is logged
    before = after
    # Signed JSON whose parts have the wrong shape: recorded, then ignored by the worker, never a crash.
    shapes = [
        {"type": "event_callback", "event_id": "EvShape1", "event": "reaction_added"},
        {
            "type": "event_callback",
            "event_id": "EvShape2",
            "event": {
                "type": "reaction_added",
                "user": team["ann"].slack_user_id,
                "reaction": "white_check_mark",
                "item": [ts],
            },
        },
        {
            "type": "event_callback",
            "event_id": ["EvShape3"],
            "event": {
                "type": "reaction_added",
                "user": {"id": 1},
                "reaction": 7,
                "item": {"type": "message", "channel": "C0INCIDENT", "ts": ts},
            },
        },
    ]
    for payload in shapes:
        body, headers = slack_request(settings, payload)
        response = await client.post(EVENTS, content=body, headers=headers)
        assert response.status_code in {200, 400}, (payload, response.status_code, response.text[:300])

    async def handled() -> bool:
        rows = await (await fresh(db)).scalars(
            select(DeliveryLog.status).where(DeliveryLog.channel == "slack", DeliveryLog.direction == "inbound")
        )
        return "received" not in set(rows)  # each one finished (as ignored), none left for a retry

    await until(handled, seconds=3)
    assert [t for t in changed(before, await settle(db)) if t != "delivery_log"] == []


async def test_slack_replay_with_the_same_event_id_is_acted_on_once_whatever_it_says(
    paged: Any, db: AsyncSession
) -> None:
    client, team, settings, ts, _, _ = paged
    ack = reaction("C0INCIDENT", ts, team["ann"].slack_user_id, "white_check_mark", event_id="EvReplay")
    body, headers = slack_request(settings, ack)
    assert (await client.post(EVENTS, content=body, headers=headers)).json()["duplicate"] is False

    async def acked() -> bool:
        session = await fresh(db)
        return await session.scalar(select(func.count()).select_from(IncidentResponder)) == 1

    await until(acked)
    before = await settle(db)
    again = await client.post(EVENTS, content=body, headers={**headers, "X-Slack-Retry-Num": "1"})
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    # Under the same event_id, a body now claiming a decline by ben: still the first delivery.
    forged = reaction("C0INCIDENT", ts, team["ben"].slack_user_id, "x", event_id="EvReplay")
    body2, headers2 = slack_request(settings, forged)
    replay = await client.post(EVENTS, content=body2, headers=headers2)
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    assert changed(before, await settle(db)) == []


async def test_twilio_refuses_bad_signatures_and_answers_signed_malformed_forms(
    paged: Any, db: AsyncSession, subtests: pytest.Subtests
) -> None:
    client, team, settings, _, _, _ = paged
    params = {"From": team["ann"].phone, "Body": "ACK 1", "MessageSid": "SMhostile1"}
    body, good = sms_request(settings, params)
    validator = RequestValidator(settings.twilio_auth_token or "")
    before = await settle(db)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("no signature", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("empty signature", {**good, "X-Twilio-Signature": ""}),
        (
            "signed for another URL",
            {**good, "X-Twilio-Signature": validator.compute_signature("https://evil.example/sms", params)},
        ),
        (
            "signed for other fields",
            {**good, "X-Twilio-Signature": validator.compute_signature(SMS_URL, {**params, "Body": "DECLINE 1"})},
        ),
        ("signed with another token", sms_request(settings, params, token="not-the-token")[1]),
        ("a signature that is not ASCII", {**good, "X-Twilio-Signature": ("é" * 28).encode("latin-1")}),
    ]
    for label, headers in cases:
        with subtests.test(msg=label):
            response = await client.post(SMS, content=body, headers=headers)
            assert response.status_code == 403, (response.status_code, response.text[:300])
            assert "signature" in response.text
    after = await settle(db)
    assert changed(before, after) == ["delivery_log"]
    assert all("'rejected'" in row for row in added_rows(before, after, "delivery_log"))
    # Validly signed but malformed forms: answered (help text) or refused, never a crash; only log rows.
    before = after
    phone = (team["ann"].phone or "").encode()
    for raw in (b"%ZZ&&==&From", b"\xff\xfe\x00", b"Body=" + b"A" * 200_000 + b"&MessageSid=SMbig&From=" + phone):
        params = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        headers = {
            "X-Twilio-Signature": validator.compute_signature(SMS_URL, params),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        response = await client.post(SMS, content=raw, headers=headers)
        assert response.status_code in {200, 400}, (raw[:40], response.status_code, response.text[:300])
    assert [t for t in changed(before, await settle(db)) if t != "delivery_log"] == []


async def test_twilio_replay_is_answered_from_the_first_and_strangers_get_help(paged: Any, db: AsyncSession) -> None:
    client, team, settings, _, _, _ = paged
    body, headers = sms_request(settings, {"From": team["ann"].phone, "Body": "ACK 1", "MessageSid": "SMreplay"})
    first = await client.post(SMS, content=body, headers=headers)
    assert "Acknowledged INC-1." in first.text
    before = await settle(db)
    # Same MessageSid, other words: a replay, not a new message; it must not decline.
    body2, headers2 = sms_request(settings, {"From": team["ann"].phone, "Body": "DECLINE 1", "MessageSid": "SMreplay"})
    replay = await client.post(SMS, content=body2, headers=headers2)
    assert replay.status_code == 200
    assert "Acknowledged INC-1." in replay.text
    assert "Declined" not in replay.text
    assert changed(before, await settle(db)) == []
    # Unknown numbers (or none, or markup) get the help text as TwiML; only their log rows are new.
    for number, sid in (("+19999999999", "SMstranger"), (SCRIPT, "SMscript"), ("", "SMempty")):
        body3, headers3 = sms_request(settings, {"From": number, "Body": "ACK 1", "MessageSid": sid})
        response = await client.post(SMS, content=body3, headers=headers3)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/xml")
        assert "not verified on any account" in response.text
        assert "<script>" not in response.text
    after = await settle(db)
    assert changed(before, after) == ["delivery_log"]
    added = added_rows(before, after, "delivery_log")
    assert len(added) == 3
    assert all("'ignored'" in row for row in added)


async def test_webhook_bodies_over_256_kib_are_413_and_change_nothing(paged: Any, db: AsyncSession) -> None:
    client, team, settings, ts, _, _ = paged
    before = await settle(db)
    payload = reaction("C0INCIDENT", ts, team["ann"].slack_user_id, "white_check_mark")
    payload["padding"] = "x" * WEBHOOK_LIMIT
    slack_body, slack_headers = slack_request(settings, payload)
    sms_body, sms_headers = sms_request(
        settings, {"From": team["ann"].phone or "", "Body": "ACK 1 " + "x" * WEBHOOK_LIMIT, "MessageSid": "SMbig"}
    )
    for path, content, headers in ((EVENTS, slack_body, slack_headers), (SMS, sms_body, sms_headers)):
        response = await client.post(path, content=content, headers=headers)
        assert response.status_code == 413, (path, response.text[:300])
        assert "too large" in response.text.lower()
    assert changed(before, await settle(db)) == []


async def test_an_incident_title_cannot_ping_the_channel_or_disguise_a_link_in_slack(
    paged: Any, db: AsyncSession, fake_slack: FakeServer
) -> None:
    """Slack reads <!channel>, <@U…> and <url|text> in message text as commands: a title's are escaped."""
    client, _, _, _, schedule, auth = paged
    title = "<!channel> <https://evil.example/reset|Reset your password> & <@U0ACME00>"
    created = await client.post(
        "/api/v1/ws/acme/incidents",
        json={"title": title, "severity": "SEV1", "schedule_id": str(schedule.id)},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    assert created.json()["title"] == title  # stored and returned as typed

    def posts() -> list[str]:
        return [
            str(c.params.get("text", ""))
            for c in fake_slack.calls("chat.postMessage")
            if "Reset your password" in str(c.params.get("text", ""))
        ]

    async def posted() -> bool:
        return bool(posts())

    await until(posted)
    for text in posts():
        assert "<!channel>" not in text
        assert "<https://evil.example" not in text
        assert "&lt;!channel&gt;" in text
