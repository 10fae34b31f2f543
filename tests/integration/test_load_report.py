"""The on-call load report on both databases (issue 23): hours per person across the October DST change
compared with hand-computed numbers, night and weekend hours in the schedule's zone, shifts counted where
they start, an override splitting a shift, pages and acknowledgements of the schedule's incidents (a
backup with pages and no hours gets a row), planned future hours, the API (JSON, CSV, 422s, who may
read) and the page (chart, table, CSV link, errors beside the fields).

"Berlin" below is a daily Europe/Berlin rotation of ann and ben with a 09:00 hand-off from Mon 19 Oct
2026 09:00 CEST, made at 10:00 CEST that day (its slots reach eight weeks on). Its shifts, in UTC,
worked out by hand (the clocks go back on Sun 25 Oct 2026 at 03:00 CEST = 01:00Z):
    ann  Mon 19 07:00Z -> Tue 20 07:00Z      ben  Tue 20 07:00Z -> Wed 21 07:00Z
    ann  Wed 21 07:00Z -> Thu 22 07:00Z      ben  Thu 22 07:00Z -> Fri 23 07:00Z
    ann  Fri 23 07:00Z -> Sat 24 07:00Z      ben  Sat 24 07:00Z -> Sun 25 08:00Z   (25 h)
    ann  Sun 25 08:00Z -> Mon 26 08:00Z      ben  Mon 26 08:00Z -> Tue 27 08:00Z
    ann  Tue 27 08:00Z -> Wed 28 08:00Z      ...
Local nights are 22:00 -> 07:00 (9 h; the night of Sat 24 Oct is 10 h); the weekend is Sat 24 Oct 00:00
CEST (Fri 23 22:00Z) -> Mon 26 Oct 00:00 CET (Sun 25 23:00Z), 49 h.
"""

from __future__ import annotations

import csv
import datetime
import html
import io
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import OnCallSchedule, OnCallSlot, Page, UserProfile
from app.db.transactions import writing
from app.domain.acks import Source
from app.domain.roles import Role
from app.main import create_app
from app.services.acks import acknowledge
from app.services.identity import WorkspaceAccess
from app.services.incidents import declare_incident
from app.services.load_report import LoadRow, load_report
from app.services.memberships import access_for
from app.services.overrides import edit_slot
from app.services.paging import Pace, escalate_due
from app.services.schedules import create_schedule, slot_at
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, fresh, make_team
from tests.web import login

ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "cat": Role.MEMBER, "vic": Role.VIEWER}
HEADER = "user_email,user_name,schedule_id,schedule_name,hours,night_hours,weekend_hours,shifts,pages,acks"
CREATED = datetime.datetime(2026, 10, 19, 8, tzinfo=datetime.UTC)  # Mon 19 Oct 10:00 CEST


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=datetime.UTC)


# Wed 21 Oct 21:00 CEST -> Tue 27 Oct 15:00 CET: from inside ann's Wednesday shift to inside her Tuesday one.
PERIOD = (utc(2026, 10, 21, 19), utc(2026, 10, 27, 14))

Line = tuple[
    str, str, float, float, float, int, int, int
]  # schedule, person, hours, night, weekend, shifts, pages, acks


def lines(rows: Sequence[LoadRow]) -> list[Line]:
    return [
        (r.schedule.name, r.user.display_name, r.hours, r.night_hours, r.weekend_hours, r.shifts, r.pages, r.acks)
        for r in rows
    ]


async def access(db: AsyncSession, team: Team, key: str) -> WorkspaceAccess:
    found = await access_for(db, team.workspace.slug, team[key].id)
    assert found is not None
    return found


async def make_berlin(db: AsyncSession, team: Team) -> OnCallSchedule:
    body = {
        "name": "Berlin",
        "rotation": "daily",
        "timezone": "Europe/Berlin",
        "handoff_time": "09:00",
        "starts_at": "2026-10-19T09:00:00+02:00",
        "members": [team["ann"].email, team["ben"].email],
        "escalation_to": team["owner"].email,
        "escalation_delay_minutes": 15,
    }
    schedule = await create_schedule(db, team.workspace.id, body, CREATED)
    # The slots the hand computations rest on (the rotation itself is tested elsewhere).
    await fresh(db)
    slots = list(
        await db.scalars(
            select(OnCallSlot)
            .where(OnCallSlot.schedule_id == schedule.id, OnCallSlot.start_time < utc(2026, 10, 28))
            .order_by(OnCallSlot.start_time)
        )
    )
    names = {team[k].id: k for k in ("ann", "ben")}
    assert [(names[s.user_id], s.start_time, s.end_time) for s in slots[4:7]] == [
        ("ann", utc(2026, 10, 23, 7), utc(2026, 10, 24, 7)),
        ("ben", utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)),
        ("ann", utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)),
    ]
    return schedule


async def override(
    db: AsyncSession, team: Team, schedule: OnCallSchedule, to: str, start: datetime.datetime, end: datetime.datetime
) -> None:
    """The owner gives [start, end) of the slot holding `start` to `to`."""
    slot = await slot_at(await fresh(db), schedule.id, start)
    assert slot is not None
    changes = {"user": team[to].email, "start": start.isoformat(), "end": end.isoformat()}
    await edit_slot(db, await access(db, team, "owner"), slot.id, changes, CREATED)


async def report(db: AsyncSession, team: Team, start: datetime.datetime, end: datetime.datetime) -> list[Line]:
    return lines(await load_report(await fresh(db), team.workspace.id, start, end))


# ---------------------------------------------------------------- hours across the DST change


async def test_hours_across_the_autumn_change_are_the_hand_computed_ones(db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    await make_berlin(db, team)
    # ann: Wed clipped 19:00Z -> Thu 07:00Z 12 h (night Wed 22:00 -> Thu 07:00 = 9, not a shift of the
    #   period), Fri 24 h (night 9, weekend Sat 00:00 -> 09:00 = 9), Sun 24 h (night 9, weekend Sun 09:00 ->
    #   Mon 00:00 CET = 15), Tue 09:00 -> 15:00 CET 6 h: 66 h, 27 night, 24 weekend, 3 shifts.
    # ben: Thu 24 h (9), Sat 25 h (night 10, weekend 25), Mon 24 h (9): 73 h, 28 night, 25 weekend, 3 shifts.
    assert await report(db, team, *PERIOD) == [
        ("Berlin", "Ann", 66.0, 27.0, 24.0, 3, 0, 0),
        ("Berlin", "Ben", 73.0, 28.0, 25.0, 3, 0, 0),
    ]
    # The 25-hour Saturday alone: ben's shift exactly; ann's shifts only touch its edges (no row).
    assert await report(db, team, utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)) == [
        ("Berlin", "Ben", 25.0, 10.0, 25.0, 1, 0, 0),
    ]
    # The local Sunday, 00:00 CEST (Sat 22:00Z) -> Mon 00:00 CET (Sun 23:00Z), is 25 hours: ben's running
    # shift clipped to 22:00Z -> 08:00Z (10 h, night to 07:00 CET = 06:00Z: 8 h; not counted as a shift),
    # ann from 08:00Z to 23:00Z (15 h, night Sun 22:00 -> 24:00 CET = 2 h; her shift starts inside).
    assert await report(db, team, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)) == [
        ("Berlin", "Ann", 15.0, 2.0, 15.0, 1, 0, 0),
        ("Berlin", "Ben", 10.0, 8.0, 10.0, 0, 0, 0),
    ]
    # A period that starts as a shift starts counts that shift; one ending as a shift starts does not.
    assert await report(db, team, utc(2026, 10, 22, 7), utc(2026, 10, 23, 7)) == [
        ("Berlin", "Ben", 24.0, 9.0, 0.0, 1, 0, 0),
    ]


async def test_an_override_splitting_a_shift_makes_two_shifts(db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    schedule = await make_berlin(db, team)
    # cat takes Thu 22 Oct 15:00 -> 18:00 CEST (13:00Z -> 16:00Z) of ben's Thursday: ben's shift is split.
    await override(db, team, schedule, "cat", utc(2026, 10, 22, 13), utc(2026, 10, 22, 16))
    assert await report(db, team, *PERIOD) == [
        ("Berlin", "Ann", 66.0, 27.0, 24.0, 3, 0, 0),
        ("Berlin", "Ben", 70.0, 28.0, 25.0, 4, 0, 0),
        ("Berlin", "Cat", 3.0, 0.0, 0.0, 1, 0, 0),
    ]
    # cat also takes Sat 24 Oct 23:00 CEST (21:00Z) -> Sun 25 Oct 02:30 CET (01:30Z) of ben's 25-hour
    # Saturday, across the change: 4.5 h, all night, all weekend. ann takes Thu 09:00 -> 12:00 CEST (07:00Z
    # -> 10:00Z), which joins her Wednesday shift (begun before the period, so still not counted).
    await override(db, team, schedule, "cat", utc(2026, 10, 24, 21), utc(2026, 10, 25, 1, 30))
    await override(db, team, schedule, "ann", utc(2026, 10, 22, 7), utc(2026, 10, 22, 10))
    # ben: 73 - 3 - 4.5 - 3 = 62.5 h, night 28 - 4.5, weekend 25 - 4.5; shifts Thu 12:00, Thu 18:00, Sat
    # 09:00, Sun 02:30, Mon 09:00 = 5.
    assert await report(db, team, *PERIOD) == [
        ("Berlin", "Ann", 69.0, 27.0, 24.0, 3, 0, 0),
        ("Berlin", "Ben", 62.5, 23.5, 20.5, 5, 0, 0),
        ("Berlin", "Cat", 7.5, 4.5, 4.5, 2, 0, 0),
    ]


# ---------------------------------------------------------------- pages and acknowledgements

PACE = Pace(60, "http://testserver.local")


async def declare(db: AsyncSession, team: Team, schedule: OnCallSchedule, at: datetime.datetime) -> uuid.UUID:
    incident = await declare_incident(
        db, await access(db, team, "owner"), "Disk full", "SEV2", schedule.id, at, 60, "http://testserver.local"
    )
    return incident.id


async def test_pages_and_acks_count_for_the_schedule_and_a_backup_gets_a_row(db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    berlin = await make_berlin(db, team)
    other = await create_schedule(
        db,
        team.workspace.id,
        {
            "name": "Other",
            "rotation": "daily",
            "timezone": "UTC",
            "handoff_time": "09:00",
            "starts_at": "2026-10-19T09:00:00+00:00",
            "members": [team["cat"].email],
            "escalation_to": team["owner"].email,
        },
        CREATED,
    )
    # Thu 22 Oct 12:00 CEST: ben is paged; 16 minutes on, the chain pages the backup (the owner), who acks.
    thursday = utc(2026, 10, 22, 10)
    first = await declare(db, team, berlin, thursday)
    await escalate_due(db, first, thursday + datetime.timedelta(minutes=16), PACE)
    assert (
        await acknowledge(db, first, team["owner"].id, Source.WEB, thursday + datetime.timedelta(minutes=20))
    ).changed
    # Sat 24 Oct 23:00 CEST: ben is paged and acknowledges.
    saturday = utc(2026, 10, 24, 21)
    second = await declare(db, team, berlin, saturday)
    assert (await acknowledge(db, second, team["ben"].id, Source.SMS, saturday + datetime.timedelta(minutes=2))).changed
    # At the very start of the period ann is paged (counted) and acknowledges; at its very end ann is paged
    # again (not counted: the period is half-open); before it, on Mon 19 Oct, ann too (not counted).
    third = await declare(db, team, berlin, PERIOD[0])
    assert (
        await acknowledge(db, third, team["ann"].id, Source.SLACK, PERIOD[0] + datetime.timedelta(minutes=1))
    ).changed
    await declare(db, team, berlin, PERIOD[1])
    earlier = await declare(db, team, berlin, utc(2026, 10, 19, 10))
    assert (await acknowledge(db, earlier, team["ann"].id, Source.WEB, utc(2026, 10, 19, 10, 5))).changed
    # An incident of the other schedule pages cat: it counts for that schedule only.
    await declare(db, team, other, utc(2026, 10, 23, 12))

    await fresh(db)
    paged = {
        (p.incident_id, p.user_id)
        for p in await db.scalars(select(Page).where(Page.incident_id.in_([first, second, third, earlier])))
    }
    assert paged == {
        (first, team["ben"].id),
        (first, team["owner"].id),
        (second, team["ben"].id),
        (third, team["ann"].id),
        (earlier, team["ann"].id),
    }, "the chain did not page as the hand-computed numbers assume"

    # Other (UTC, cat alone from Mon 19 Oct 09:00: one shift begun before the period): 139 h; nights 22:00 ->
    # 07:00 UTC, six of 9 h = 54; weekend Sat 00:00Z -> Mon 00:00Z = 48.
    assert await report(db, team, *PERIOD) == [
        ("Berlin", "Ann", 66.0, 27.0, 24.0, 3, 1, 1),
        ("Berlin", "Ben", 73.0, 28.0, 25.0, 3, 2, 1),
        ("Berlin", "Owner", 0.0, 0.0, 0.0, 0, 1, 1),  # the backup: paged, never on call
        ("Other", "Cat", 139.0, 54.0, 48.0, 0, 1, 0),
    ]
    # Before the period only the Monday incident counts (ann holds Mon 19 from 09:00 CEST).
    assert await report(db, team, utc(2026, 10, 19, 7), utc(2026, 10, 20, 7)) == [
        ("Berlin", "Ann", 24.0, 9.0, 0.0, 1, 1, 1),
        ("Other", "Cat", 22.0, 9.0, 0.0, 1, 0, 0),  # from Mon 09:00Z to Tue 07:00Z
    ]


# ---------------------------------------------------------------- the API


def next_monday(after: datetime.datetime) -> datetime.datetime:
    """The first Monday 00:00 UTC at least a week after `after` (so the whole week is in the future)."""
    day = (after + datetime.timedelta(days=7)).date()
    day += datetime.timedelta(days=(7 - day.weekday()) % 7)
    return datetime.datetime.combine(day, datetime.time(0), tzinfo=datetime.UTC)


@dataclass
class Api:
    client: AsyncTestClient[Any]
    team: Team
    schedule: OnCallSchedule
    monday: datetime.datetime
    auth: dict[str, dict[str, str]]

    async def get(self, who: str, **params: str) -> Any:
        return await self.client.get("/api/v1/ws/acme/reports/oncall", params=params, headers=self.auth[who])


@pytest.fixture
async def api(settings: Settings, db: AsyncSession) -> AsyncIterator[Api]:
    """Ops: daily at 09:00 UTC, ann then ben, from a Monday at least a week ahead (all planned hours)."""
    team = await make_team(db, roles=ROLES)
    now = datetime.datetime.now(datetime.UTC)
    monday = next_monday(now)
    body = {
        "name": "Ops",
        "rotation": "daily",
        "timezone": "UTC",
        "handoff_time": "09:00",
        "starts_at": (monday + datetime.timedelta(hours=9)).isoformat(),
        "members": [team["ann"].email, team["ben"].email],
        "escalation_to": team["owner"].email,
    }
    schedule = await create_schedule(db, team.workspace.id, body, now)
    globex = await make_team(db, "globex", {"gus": Role.OWNER})
    tokens = {k: await issue_token(db, team.workspace.id, team[k].id) for k in ("owner", "vic")}
    tokens["gus"] = await issue_token(db, globex.workspace.id, globex["gus"].id)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Api(client, team, schedule, monday, {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()})


def week(api: Api) -> dict[str, str]:
    return {"start": api.monday.isoformat(), "end": (api.monday + datetime.timedelta(days=7)).isoformat()}


async def test_the_api_answers_planned_hours_as_json(api: Api) -> None:
    response = await api.get("vic", **week(api))  # a viewer may read it
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    ann, ben = api.team["ann"], api.team["ben"]
    schedule = {"id": str(api.schedule.id), "name": "Ops"}
    # The week Mon 00:00Z -> next Mon 00:00Z, the rotation starting Mon 09:00Z:
    # ann Mon, Wed, Fri 09:00 -> 09:00 (24 h, night 9 each; Fri's runs into Saturday: 9 h weekend) and Sun
    #   09:00 -> Mon 00:00 (15 h, night 2, weekend 15): 87 h, 29 night, 24 weekend, 4 shifts.
    # ben Tue, Thu, Sat (24 h, night 9 each; Sat's all weekend): 72 h, 27 night, 24 weekend, 3 shifts.
    assert response.json() == [
        {
            "user": {"id": str(ann.id), "email": ann.email, "display_name": "Ann"},
            "schedule": schedule,
            "hours": 87.0,
            "night_hours": 29.0,
            "weekend_hours": 24.0,
            "shifts": 4,
            "pages": 0,
            "acks": 0,
        },
        {
            "user": {"id": str(ben.id), "email": ben.email, "display_name": "Ben"},
            "schedule": schedule,
            "hours": 72.0,
            "night_hours": 27.0,
            "weekend_hours": 24.0,
            "shifts": 3,
            "pages": 0,
            "acks": 0,
        },
    ]
    # Hours are numbers to 2 places: the first 20 minutes of ann's first shift are 0.33 h.
    start = api.monday + datetime.timedelta(hours=9)
    short = await api.get("owner", start=start.isoformat(), end=(start + datetime.timedelta(minutes=20)).isoformat())
    assert short.status_code == 200, short.text
    [row] = short.json()
    assert (row["user"]["email"], row["hours"], row["night_hours"], row["weekend_hours"], row["shifts"]) == (
        ann.email,
        0.33,
        0.0,
        0.0,
        1,
    )
    assert '"hours":0.33' in short.text.replace(" ", "")
    for key in ("hours", "night_hours", "weekend_hours"):
        assert isinstance(row[key], float)
    # A period with nobody on call is an empty list.
    empty = await api.get("vic", start="2026-01-01T00:00:00Z", end="2026-01-02T00:00:00Z")
    assert (empty.status_code, empty.json()) == (200, [])


async def test_the_api_answers_csv_when_asked(api: Api) -> None:
    response = await api.client.get(
        "/api/v1/ws/acme/reports/oncall", params=week(api), headers={**api.auth["vic"], "Accept": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.text.splitlines() == [
        HEADER,
        f"ann@acme.test,Ann,{api.schedule.id},Ops,87.00,29.00,24.00,4,0,0",
        f"ben@acme.test,Ben,{api.schedule.id},Ops,72.00,27.00,24.00,3,0,0",
    ]


async def test_csv_quotes_names_with_commas_and_quotes(api: Api, db: AsyncSession) -> None:
    body = {
        "name": 'Ops, "EU"',
        "rotation": "daily",
        "timezone": "UTC",
        "handoff_time": "09:00",
        "starts_at": (api.monday + datetime.timedelta(hours=9)).isoformat(),
        "members": [api.team["cat"].email],
        "escalation_to": api.team["owner"].email,
    }
    eu = await create_schedule(db, api.team.workspace.id, body, datetime.datetime.now(datetime.UTC))
    start = api.monday + datetime.timedelta(hours=9)  # Mon 09:00Z -> Tue 09:00Z: ann on Ops, cat on Ops, "EU"
    params = {"start": start.isoformat(), "end": (start + datetime.timedelta(days=1)).isoformat()}
    response = await api.client.get(
        "/api/v1/ws/acme/reports/oncall", params=params, headers={**api.auth["vic"], "Accept": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.text.splitlines() == [
        HEADER,
        f"ann@acme.test,Ann,{api.schedule.id},Ops,24.00,9.00,0.00,1,0,0",
        f'cat@acme.test,Cat,{eu.id},"Ops, ""EU""",24.00,9.00,0.00,1,0,0',
    ]
    assert list(csv.reader(io.StringIO(response.text)))[2][3] == 'Ops, "EU"'


BAD_PERIODS: list[tuple[dict[str, str], str]] = [
    ({"end": "2026-10-27T00:00:00Z"}, "start"),
    ({"start": "", "end": "2026-10-27T00:00:00Z"}, "start"),
    ({"start": "2026-10-20T00:00:00Z"}, "end"),
    ({"start": "2026-10-27T00:00:00Z", "end": "2026-10-20T00:00:00Z"}, "end"),  # end before start
    ({"start": "2026-01-01T00:00:00Z", "end": "2027-01-03T00:00:00Z"}, "end"),  # 367 days
    ({"start": "2026-10-20T00:00:00", "end": "2026-10-27T00:00:00Z"}, "start"),  # no offset
    ({"start": "2026-10-20T00:00:00Z", "end": "next week"}, "end"),
]


async def test_the_api_names_the_bad_field(api: Api) -> None:
    for params, field in BAD_PERIODS:
        for accept in ("application/json", "text/csv"):
            response = await api.client.get(
                "/api/v1/ws/acme/reports/oncall", params=params, headers={**api.auth["vic"], "Accept": accept}
            )
            assert response.status_code == 422, (params, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert [e["field"] for e in response.json()["errors"]] == [field], (params, response.text)
    neither = await api.get("vic")
    assert neither.status_code == 422
    assert sorted(e["field"] for e in neither.json()["errors"]) == ["end", "start"]


async def test_366_days_are_allowed(api: Api) -> None:
    response = await api.get("vic", start="2026-01-01T00:00:00+01:00", end="2027-01-02T00:00:00+01:00")
    assert response.status_code == 200, response.text
    assert {r["user"]["email"] for r in response.json()} == {"ann@acme.test", "ben@acme.test"}


async def test_who_may_read_the_report(api: Api) -> None:
    assert (await api.get("vic", **week(api))).status_code == 200
    assert (await api.get("owner", **week(api))).status_code == 200
    # No token: 401. Another workspace's token: whatever other API endpoints answer for it (404).
    anonymous = await api.client.get("/api/v1/ws/acme/reports/oncall", params=week(api))
    assert anonymous.status_code == 401
    theirs = await api.get("gus", **week(api))
    members = await api.client.get("/api/v1/ws/acme/members", headers=api.auth["gus"])
    assert theirs.status_code == members.status_code == 404, theirs.text
    assert theirs.headers["content-type"].startswith("application/problem+json")
    # Their own workspace's report is theirs alone: nothing of acme's.
    own = await api.client.get("/api/v1/ws/globex/reports/oncall", params=week(api), headers=api.auth["gus"])
    assert (own.status_code, own.json()) == (200, [])


# ---------------------------------------------------------------- the page

ROW = re.compile(r"<tr><td data-label=\"Person\">(.*?)</tr>", re.S)
CELL = re.compile(r"<td data-label=\"[^\"]+\">([^<]*)</td>")
CSV_LINK = re.compile(r'href="(/ws/acme/reports/oncall\.csv\?[^"]*)"')


def table_of(page: str) -> list[list[str]]:
    body = page.split('id="load-table"', 1)[1]
    return [CELL.findall('<td data-label="Person">' + row) for row in ROW.findall(body)]


@pytest.fixture
async def viewer(settings: Settings, db: AsyncSession) -> AsyncIterator[tuple[AsyncTestClient[Any], Team]]:
    """vic (a viewer, living in Europe/Berlin) logged in; Berlin made."""
    team = await make_team(db, roles=ROLES)
    await make_berlin(db, team)
    async with writing(db):
        (await db.get_one(UserProfile, team["vic"].id, populate_existing=True)).time_zone = "Europe/Berlin"
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, team["vic"].email, PASSWORD)
        yield client, team


# The local days Thu 22 -> Mon 26 Oct, included, in vic's zone: Thu 00:00 CEST (Wed 21 22:00Z) -> Tue 27
# 00:00 CET (Mon 26 23:00Z), 121 h. ann: Wed clipped 9 h (night 22:00Z -> 05:00Z = 7), Fri 24 (9; weekend
# 9), Sun 24 (9; weekend 15): 57 h, 25 night, 24 weekend, 2 shifts. ben: Thu 24 (9), Sat 25 (10; 25), Mon
# 09:00 -> 24:00 CET 15 h (night 2): 64 h, 21 night, 25 weekend, 3 shifts.
PAGE_ROWS = [
    ["Ann", "Berlin", "57.00", "25.00", "24.00", "2", "0", "0"],
    ["Ben", "Berlin", "64.00", "21.00", "25.00", "3", "0", "0"],
]


async def test_the_page_shows_the_chart_and_the_table(viewer: tuple[AsyncTestClient[Any], Team]) -> None:
    client, _ = viewer
    page = await client.get("/ws/acme/reports/oncall", params={"first": "2026-10-22", "last": "2026-10-26"})
    assert page.status_code == 200, page.text
    assert 'value="2026-10-22"' in page.text and 'value="2026-10-26"' in page.text
    assert table_of(page.text) == PAGE_ROWS
    chart = page.text.split('<svg class="load-chart"', 1)[1].split("</svg>", 1)[0]
    assert "<title>Ann, Berlin: 57.00 h</title>" in chart
    assert "<title>Ben, Berlin: 64.00 h</title>" in chart
    # Bars are scaled to the longest (ben's 64 h fills the width; ann's 100 x 57 / 64 = 89.0625 %), the
    # night part of each likewise (100 x 25 / 64 = 39.0625, 100 x 21 / 64 = 32.8125).
    widths = re.findall(r'<rect x="0" y="\d+" width="([\d.]+)%"', chart)
    assert [float(w) for w in widths] == [89.06, 39.06, 100.0, 32.81]
    assert "aria-invalid" not in page.text


async def test_the_csv_link_downloads_the_same_rows(
    viewer: tuple[AsyncTestClient[Any], Team], db: AsyncSession
) -> None:
    client, team = viewer
    page = await client.get("/ws/acme/reports/oncall", params={"first": "2026-10-22", "last": "2026-10-26"})
    match = CSV_LINK.search(page.text)
    assert match, "no CSV link on the page"
    download = await client.get(html.unescape(match.group(1)))
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    records = list(csv.reader(io.StringIO(download.text)))
    assert ",".join(records[0]) == HEADER
    await fresh(db)
    schedule_id = await db.scalar(select(OnCallSchedule.id).where(OnCallSchedule.name == "Berlin"))
    assert records[1:] == [
        ["ann@acme.test", "Ann", str(schedule_id), "Berlin", "57.00", "25.00", "24.00", "2", "0", "0"],
        ["ben@acme.test", "Ben", str(schedule_id), "Berlin", "64.00", "21.00", "25.00", "3", "0", "0"],
    ]
    # The same rows as the table: person, schedule and the numbers.
    assert [[r[1], r[3], *r[4:]] for r in records[1:]] == PAGE_ROWS
    # ... and as the API for the same instants (the local midnights of vic's zone).
    token = await issue_token(db, team.workspace.id, team["vic"].id)
    api = await client.get(
        "/api/v1/ws/acme/reports/oncall",
        params={"start": "2026-10-22T00:00:00+02:00", "end": "2026-10-27T00:00:00+01:00"},
        headers={"Authorization": f"Bearer {token}", "Accept": "text/csv"},
    )
    assert api.text == download.text


async def test_a_bad_date_shows_the_error_beside_its_field(viewer: tuple[AsyncTestClient[Any], Team]) -> None:
    client, _ = viewer
    # The last day before the first: the error is the last field's.
    page = await client.get("/ws/acme/reports/oncall", params={"first": "2026-10-26", "last": "2026-10-22"})
    assert page.status_code == 422, page.text
    assert re.search(r'id="last"[^>]*aria-invalid="true" aria-describedby="last-error"', page.text)
    assert re.search(r'<p class="error" id="last-error" role="alert">[^<]+</p>', page.text)
    assert 'id="first-error"' not in page.text
    assert "load-chart" not in page.text and "Download CSV" not in page.text
    assert 'value="2026-10-26"' in page.text  # what was typed stays
    # A last day that does not exist.
    page = await client.get("/ws/acme/reports/oncall", params={"first": "2026-10-22", "last": "2026-02-30"})
    assert page.status_code == 422
    assert 'id="last-error"' in page.text and 'id="first-error"' not in page.text
    # More than 366 days.
    page = await client.get("/ws/acme/reports/oncall", params={"first": "2025-01-01", "last": "2026-01-02"})
    assert page.status_code == 422
    assert 'id="last-error"' in page.text and "366" in page.text
    # The CSV of a bad period is refused too.
    refused = await client.get("/ws/acme/reports/oncall.csv", params={"first": "2026-10-26", "last": "2026-10-22"})
    assert refused.status_code == 422
    assert not refused.headers["content-type"].startswith("text/csv")


async def test_a_bad_first_date_marks_only_the_first_field(viewer: tuple[AsyncTestClient[Any], Team]) -> None:
    """app/routes/reports.py _period returns neither instant when the first day does not parse, so
    check_period also reports "Give the end of the period." against a last day that was fine."""
    client, _ = viewer
    page = await client.get("/ws/acme/reports/oncall", params={"first": "2026-10-32", "last": "2026-10-26"})
    assert page.status_code == 422
    assert re.search(r'id="first"[^>]*aria-invalid="true" aria-describedby="first-error"', page.text)
    assert re.search(r'<p class="error" id="first-error" role="alert">[^<]+</p>', page.text)
    assert 'id="last-error"' not in page.text, re.findall(r'<p class="error"[^>]*>[^<]*</p>', page.text)


async def test_the_page_refuses_366_local_days_across_the_autumn_change(
    viewer: tuple[AsyncTestClient[Any], Team],
) -> None:
    """The page counts whole local days but check_period counts elapsed time: Sat 25 Oct 2025 -> Sun 25 Oct
    2026 in Berlin is 366 days (2025-10-25 00:00 CEST -> 2026-10-26 00:00 CET), 366 days and an hour
    elapsed, and is refused although the same 366 days in winter are accepted."""
    client, _ = viewer
    winter = await client.get("/ws/acme/reports/oncall", params={"first": "2025-12-01", "last": "2026-12-01"})
    assert winter.status_code == 200, winter.text  # 366 local days, 366 x 24 h
    autumn = await client.get("/ws/acme/reports/oncall", params={"first": "2025-10-25", "last": "2026-10-25"})
    assert autumn.status_code == 200, re.findall(r'<p class="error"[^>]*>[^<]*</p>', autumn.text)


async def test_the_page_is_for_members_only(viewer: tuple[AsyncTestClient[Any], Team], db: AsyncSession) -> None:
    client, _ = viewer
    await make_team(db, "globex", {"gus": Role.OWNER})
    assert (await client.get("/ws/globex/reports/oncall")).status_code == 404
    assert (await client.get("/ws/acme/reports/oncall")).status_code == 200  # the last 30 days by default
    async with AsyncTestClient(app=client.app) as anonymous:
        response = await anonymous.get("/ws/acme/reports/oncall", follow_redirects=False)
        assert response.status_code in {302, 303}
        assert "/login" in response.headers["location"]
