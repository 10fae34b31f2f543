"""Calendar feeds, on both databases: shifts across DST changes compared with hand-written UTC instants
(not with the app's own slot output), overrides applied (UID, SEQUENCE, LAST-MODIFIED), the 30-day
history and the horizon, revocation and deactivation, GET /me/shifts, and the public feed route.

The DST and override cases call render_feed with a chosen `now`; the HTTP route uses the real clock.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import icalendar
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import CalendarFeed, Membership, OnCallSchedule, OnCallSlot
from app.domain.roles import Role
from app.main import create_app
from app.services.calendar_feeds import create_feed, render_feed
from app.services.identity import WorkspaceAccess
from app.services.memberships import access_for, change_member
from app.services.overrides import edit_slot, remove_override
from app.services.schedules import create_schedule, delete_schedule, set_active, slot_at
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, fresh, make_team
from tests.web import login, post_form

ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "cat": Role.MEMBER, "vic": Role.VIEWER}
PUBLIC = "http://testserver.local"  # the `settings` fixture's public_url
EPOCH = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=datetime.UTC)


def seconds_since_2020(at: datetime.datetime) -> int:
    return int((at - EPOCH).total_seconds())


@dataclass(frozen=True)
class Ev:
    uid: str
    start: datetime.datetime
    end: datetime.datetime
    summary: str
    sequence: int
    last_modified: datetime.datetime


TIME_PROPS = ("DTSTART", "DTEND", "LAST-MODIFIED", "DTSTAMP")
UTC_LINE = re.compile(r"(DTSTART|DTEND|LAST-MODIFIED|DTSTAMP):\d{8}T\d{6}Z")


def events_of(body: bytes) -> list[Ev]:
    """Every VEVENT of an iCal body, by start; each of its times must be written in UTC (...Z)."""
    for line in body.decode().splitlines():
        if line.split(":", 1)[0].split(";", 1)[0] in TIME_PROPS:
            assert UTC_LINE.fullmatch(line), line
    calendar = icalendar.Calendar.from_ical(body)
    found: list[Ev] = []
    for event in calendar.walk("VEVENT"):
        for prop in TIME_PROPS:
            assert event.decoded(prop).utcoffset() == datetime.timedelta(0)
        found.append(
            Ev(
                str(event["UID"]),
                event.decoded("DTSTART"),
                event.decoded("DTEND"),
                str(event["SUMMARY"]),
                int(event.decoded("SEQUENCE")),
                event.decoded("LAST-MODIFIED"),
            )
        )
    return sorted(found, key=lambda e: (e.start, e.summary))


async def access(db: AsyncSession, team: Team, key: str) -> WorkspaceAccess:
    found = await access_for(db, team.workspace.slug, team[key].id)
    assert found is not None
    return found


async def make_schedule(
    db: AsyncSession,
    team: Team,
    name: str,
    *,
    zone: str = "UTC",
    handoff: str = "09:00",
    starts_at: str,
    now: datetime.datetime,
    members: Sequence[str] = ("ann", "ben"),
) -> OnCallSchedule:
    body = {
        "name": name,
        "rotation": "daily",
        "timezone": zone,
        "handoff_time": handoff,
        "starts_at": starts_at,
        "members": [team[k].email for k in members],
        "escalation_to": team["owner"].email,
    }
    return await create_schedule(db, team.workspace.id, body, now)


class Feeds:
    """Feeds made through the service and read with render_feed at a chosen `now`."""

    def __init__(self, db: AsyncSession, team: Team) -> None:
        self.db, self.team = db, team

    async def token(self, key: str, schedule: OnCallSchedule | None = None) -> str:
        who = await access(self.db, self.team, key)
        _, token = await create_feed(self.db, who, schedule.id if schedule else None, utc(2026, 1, 1))
        return token

    async def read(self, token: str, now: datetime.datetime) -> list[Ev]:
        body = await render_feed(await fresh(self.db), token, now, PUBLIC)
        assert body is not None, "the feed answered nothing"
        return events_of(body)


# ---------------------------------------------------------------- 1. DST, hand-written instants

# (schedule name, zone, local hand-off, starts_at, [(UTC start, UTC end, holder, hours)]) — each list is
# the schedule's first shifts. Worked out from the zone rules (checked against zoneinfo by hand):
#   Europe/Berlin       2026-03-29 02:00 CET -> 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z)
#   America/Santiago    2026-04-05 00:00 -03 -> Sat 4 Apr 23:00 -04 (03:00Z); 2026-09-06 00:00 -04 -> 01:00 -03 (04:00Z)
#   Australia/Lord_Howe 2026-04-05 02:00 +11 -> 01:30 +10:30 (Apr 4 15:00Z); 2026-10-04 02:00 +10:30 -> 02:30 +11
#                       (Oct 3 15:30Z)
# A repeated local hand-off means its first occurrence; a skipped one is read with the offset before the gap.
DstCase = tuple[str, str, str, str, list[tuple[datetime.datetime, datetime.datetime, str, float]]]
DST_CASES: dict[str, list[DstCase]] = {
    "berlin": [
        (
            "Berlin spring",
            "Europe/Berlin",
            "09:00",
            "2026-03-27T09:00:00+01:00",
            [
                (utc(2026, 3, 27, 8), utc(2026, 3, 28, 8), "ann", 24),
                (utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), "ben", 23),  # Sat 09:00 CET -> Sun 09:00 CEST
                (utc(2026, 3, 29, 7), utc(2026, 3, 30, 7), "ann", 24),
            ],
        ),
        (
            "Berlin autumn",
            "Europe/Berlin",
            "09:00",
            "2026-10-23T09:00:00+02:00",
            [
                (utc(2026, 10, 23, 7), utc(2026, 10, 24, 7), "ann", 24),
                (utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), "ben", 25),  # Sat 09:00 CEST -> Sun 09:00 CET
                (utc(2026, 10, 25, 8), utc(2026, 10, 26, 8), "ann", 24),
            ],
        ),
    ],
    "santiago": [
        (
            "Santiago nights autumn",  # 23:30 -> 23:30 straddles midnight; Sat 4 Apr 23:30 happens twice
            "America/Santiago",
            "23:30",
            "2026-04-02T23:30:00-03:00",
            [
                (utc(2026, 4, 3, 2, 30), utc(2026, 4, 4, 2, 30), "ann", 24),
                (utc(2026, 4, 4, 2, 30), utc(2026, 4, 5, 2, 30), "ben", 24),  # to the first Sat 23:30 (-03)
                (utc(2026, 4, 5, 2, 30), utc(2026, 4, 6, 3, 30), "ann", 25),  # to Sun 23:30 -04
                (utc(2026, 4, 6, 3, 30), utc(2026, 4, 7, 3, 30), "ben", 24),
            ],
        ),
        (
            "Santiago nights spring",
            "America/Santiago",
            "23:30",
            "2026-09-04T23:30:00-04:00",
            [
                (utc(2026, 9, 5, 3, 30), utc(2026, 9, 6, 3, 30), "ann", 24),
                (utc(2026, 9, 6, 3, 30), utc(2026, 9, 7, 2, 30), "ben", 23),  # Sat 23:30 -04 -> Sun 23:30 -03
                (utc(2026, 9, 7, 2, 30), utc(2026, 9, 8, 2, 30), "ann", 24),
            ],
        ),
        (
            "Santiago midnight",  # Sun 6 Sep 00:00 does not exist: read with -04, i.e. 04:00Z (01:00 -03)
            "America/Santiago",
            "00:00",
            "2026-09-04T00:00:00-04:00",
            [
                (utc(2026, 9, 4, 4), utc(2026, 9, 5, 4), "ann", 24),
                (utc(2026, 9, 5, 4), utc(2026, 9, 6, 4), "ben", 24),
                (utc(2026, 9, 6, 4), utc(2026, 9, 7, 3), "ann", 23),  # to Mon 00:00 -03
                (utc(2026, 9, 7, 3), utc(2026, 9, 8, 3), "ben", 24),
            ],
        ),
    ],
    "lord_howe": [
        (
            "Lord Howe autumn",
            "Australia/Lord_Howe",
            "09:00",
            "2026-04-03T09:00:00+11:00",
            [
                (utc(2026, 4, 2, 22), utc(2026, 4, 3, 22), "ann", 24),
                (utc(2026, 4, 3, 22), utc(2026, 4, 4, 22, 30), "ben", 24.5),  # Sat 09:00 +11 -> Sun 09:00 +10:30
                (utc(2026, 4, 4, 22, 30), utc(2026, 4, 5, 22, 30), "ann", 24),
            ],
        ),
        (
            "Lord Howe spring",
            "Australia/Lord_Howe",
            "09:00",
            "2026-10-02T09:00:00+10:30",
            [
                (utc(2026, 10, 1, 22, 30), utc(2026, 10, 2, 22, 30), "ann", 24),
                (utc(2026, 10, 2, 22, 30), utc(2026, 10, 3, 22), "ben", 23.5),  # Sat 09:00 +10:30 -> Sun 09:00 +11
                (utc(2026, 10, 3, 22), utc(2026, 10, 4, 22), "ann", 24),
            ],
        ),
        (
            "Lord Howe small hours",  # Sun 5 Apr 01:45 happens twice (+11, then +10:30): the first one
            "Australia/Lord_Howe",
            "01:45",
            "2026-04-03T01:45:00+11:00",
            [
                (utc(2026, 4, 2, 14, 45), utc(2026, 4, 3, 14, 45), "ann", 24),
                (utc(2026, 4, 3, 14, 45), utc(2026, 4, 4, 14, 45), "ben", 24),
                (utc(2026, 4, 4, 14, 45), utc(2026, 4, 5, 15, 15), "ann", 24.5),  # to Mon 01:45 +10:30
                (utc(2026, 4, 5, 15, 15), utc(2026, 4, 6, 15, 15), "ben", 24),
            ],
        ),
    ],
}


@pytest.mark.parametrize("zone_key", list(DST_CASES))
async def test_shifts_across_dst_changes_are_the_hand_written_utc_instants(db: AsyncSession, zone_key: str) -> None:
    team = await make_team(db, roles=ROLES)
    feeds = Feeds(db, team)
    cases = DST_CASES[zone_key]
    starts = []
    for name, zone, handoff, starts_at, expected in cases:
        start = datetime.datetime.fromisoformat(starts_at)
        starts.append(start)
        # Created an hour into its first shift: the slots run from the anchor to now + 8 weeks.
        schedule = await make_schedule(
            db, team, name, zone=zone, handoff=handoff, starts_at=starts_at, now=start + datetime.timedelta(hours=1)
        )
        token = await feeds.token("vic", schedule)  # a viewer's feed of everyone's shifts
        events = await feeds.read(token, start + datetime.timedelta(hours=1))
        assert [(e.start, e.end, e.summary) for e in events[: len(expected)]] == [
            (s, e, f"{team[k].display_name} — {name}") for s, e, k, _ in expected
        ], name
        for s, e, _, hours in expected:  # the literals themselves: 23 h, 25 h, 23.5 h and 24.5 h days
            assert (e - s).total_seconds() == hours * 3600, (name, s)
        assert all(a.end == b.start for a, b in itertools.pairwise(events)), f"{name}: gap or overlap"
        assert len({e.uid for e in events}) == len(events)
    # Ann's personal feed: her shifts on every schedule, summary "On call: <schedule>".
    mine = await feeds.read(await feeds.token("ann"), min(starts) + datetime.timedelta(hours=1))
    for name, _, _, _, expected in cases:
        held = {(e.start, e.end) for e in mine if e.summary == f"On call: {name}"}
        assert {(s, e) for s, e, k, _ in expected if k == "ann"} <= held, name
        assert not held & {(s, e) for s, e, k, _ in expected if k != "ann"}, name


# ---------------------------------------------------------------- 2. overrides applied

T0 = utc(2026, 6, 1, 9)  # Ops: UTC, daily at 09:00, ann, ben, cat from Mon 1 Jun 2026
CREATED = utc(2026, 6, 1, 10)


async def ops(db: AsyncSession, team: Team, members: Sequence[str] = ("ann", "ben", "cat")) -> OnCallSchedule:
    return await make_schedule(db, team, "Ops", starts_at=T0.isoformat(), now=CREATED, members=members)


async def override(
    db: AsyncSession,
    team: Team,
    schedule: OnCallSchedule,
    to: str,
    start: datetime.datetime,
    end: datetime.datetime,
    now: datetime.datetime,
) -> uuid.UUID:
    """An admin gives [start, end) of the slot holding `start` to `to` (the slot dialog's edit_slot)."""
    slot = await slot_at(await fresh(db), schedule.id, start)
    assert slot is not None
    result = await edit_slot(
        db,
        await access(db, team, "owner"),
        slot.id,
        {"user": team[to].email, "start": start.isoformat(), "end": end.isoformat()},
        now,
    )
    assert len(result.slots) == 1
    return result.slots[0].id


def at(events: Sequence[Ev], start: datetime.datetime) -> Ev:
    found = [e for e in events if e.start == start]
    assert len(found) == 1, (start, events[:6])
    return found[0]


async def test_an_override_splits_a_shift_keeping_the_first_uid(db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    schedule = await ops(db, team)
    feeds = Feeds(db, team)
    token = await feeds.token("vic", schedule)
    before = await feeds.read(token, CREATED)
    assert [(e.start, e.end, e.summary) for e in before[:4]] == [
        (utc(2026, 6, 1, 9), utc(2026, 6, 2, 9), "Ann — Ops"),
        (utc(2026, 6, 2, 9), utc(2026, 6, 3, 9), "Ben — Ops"),
        (utc(2026, 6, 3, 9), utc(2026, 6, 4, 9), "Cat — Ops"),
        (utc(2026, 6, 4, 9), utc(2026, 6, 5, 9), "Ann — Ops"),
    ]
    bens = at(before, utc(2026, 6, 2, 9))
    assert bens.sequence == seconds_since_2020(CREATED)
    assert bens.last_modified == CREATED

    changed = utc(2026, 6, 1, 12)
    await override(db, team, schedule, "cat", utc(2026, 6, 2, 15), utc(2026, 6, 2, 18), changed)
    after = await feeds.read(token, changed)
    assert [(e.start, e.end, e.summary) for e in after[1:5]] == [
        (utc(2026, 6, 2, 9), utc(2026, 6, 2, 15), "Ben — Ops"),
        (utc(2026, 6, 2, 15), utc(2026, 6, 2, 18), "Cat — Ops (override)"),
        (utc(2026, 6, 2, 18), utc(2026, 6, 3, 9), "Ben — Ops"),
        (utc(2026, 6, 3, 9), utc(2026, 6, 4, 9), "Cat — Ops"),
    ]
    first = at(after, utc(2026, 6, 2, 9))
    assert first.uid == bens.uid  # the same event, shortened ...
    assert first.sequence == seconds_since_2020(changed) > bens.sequence  # ... with SEQUENCE raised
    assert first.last_modified == changed
    later = at(after, utc(2026, 6, 2, 18))
    assert later.uid not in {e.uid for e in before}  # the later piece is a new event
    assert at(after, utc(2026, 6, 2, 15)).uid not in {e.uid for e in before}
    # Shifts the override did not touch keep their UID and SEQUENCE.
    for start in (utc(2026, 6, 1, 9), utc(2026, 6, 3, 9), utc(2026, 6, 4, 9)):
        assert (at(after, start).uid, at(after, start).sequence) == (at(before, start).uid, at(before, start).sequence)

    # Personal feeds: cat sees the override she was given, ben his two pieces and not hers.
    cats = await feeds.read(await feeds.token("cat"), changed)
    assert [(e.start, e.end, e.summary) for e in cats[:2]] == [
        (utc(2026, 6, 2, 15), utc(2026, 6, 2, 18), "On call: Ops (override)"),
        (utc(2026, 6, 3, 9), utc(2026, 6, 4, 9), "On call: Ops"),
    ]
    bens_feed = await feeds.read(await feeds.token("ben"), changed)
    assert [(e.start, e.end, e.summary) for e in bens_feed[:3]] == [
        (utc(2026, 6, 2, 9), utc(2026, 6, 2, 15), "On call: Ops"),
        (utc(2026, 6, 2, 18), utc(2026, 6, 3, 9), "On call: Ops"),
        (utc(2026, 6, 5, 9), utc(2026, 6, 6, 9), "On call: Ops"),
    ]
    assert at(bens_feed, utc(2026, 6, 2, 9)).uid == bens.uid  # the UID is the same in both feeds


async def test_an_override_that_lengthens_a_shift_keeps_its_uid_and_raises_sequence(db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    schedule = await ops(db, team)
    feeds = Feeds(db, team)
    token = await feeds.token("ann")
    before = at(await feeds.read(token, CREATED), utc(2026, 6, 4, 9))  # ann: Thu 09:00 -> Fri 09:00
    assert before.end == utc(2026, 6, 5, 9)
    changed = utc(2026, 6, 1, 12)
    # Ann also takes the first three hours of ben's Friday: her Thursday shift now ends at Fri 12:00.
    await override(db, team, schedule, "ann", utc(2026, 6, 5, 9), utc(2026, 6, 5, 12), changed)
    longer = at(await feeds.read(token, changed), utc(2026, 6, 4, 9))
    assert (longer.uid, longer.end, longer.summary) == (before.uid, utc(2026, 6, 5, 12), "On call: Ops (override)")
    assert longer.sequence == seconds_since_2020(changed) > before.sequence
    assert longer.last_modified == changed


async def test_removing_that_override_moves_the_end_back_with_sequence_raised_again(db: AsyncSession) -> None:
    """RFC 5545: a calendar keeps the copy with the higher SEQUENCE. When the override that lengthened
    ann's shift is removed, her shift's end moves back under the same UID, so SEQUENCE and
    LAST-MODIFIED must rise again (the module says SEQUENCE "only ever grows")."""
    team = await make_team(db, roles=ROLES)
    schedule = await ops(db, team)
    feeds = Feeds(db, team)
    token = await feeds.token("ann")
    changed = utc(2026, 6, 1, 12)
    added = await override(db, team, schedule, "ann", utc(2026, 6, 5, 9), utc(2026, 6, 5, 12), changed)
    longer = at(await feeds.read(token, changed), utc(2026, 6, 4, 9))
    assert longer.end == utc(2026, 6, 5, 12)
    removed_at = utc(2026, 6, 1, 13)
    await remove_override(db, await access(db, team, "owner"), added, removed_at)
    back = at(await feeds.read(token, removed_at), utc(2026, 6, 4, 9))
    assert (back.uid, back.end, back.summary) == (longer.uid, utc(2026, 6, 5, 9), "On call: Ops")
    assert back.sequence > longer.sequence, (back.sequence, longer.sequence)
    assert back.last_modified >= removed_at


# ---------------------------------------------------------------- 3. 30 days of history, up to the horizon


async def test_thirty_days_back_to_the_end_of_the_horizon(db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    now = utc(2026, 7, 15, 9)  # a hand-off; 30 days before is Mon 15 Jun 09:00
    # Ann and ben daily at 09:00 UTC from Fri 5 Jun (recorded once): ann on 5, 7, 9 ... Jun.
    schedule = await make_schedule(db, team, "Ops", starts_at="2026-06-05T09:00:00+00:00", now=now)
    # A second, inactive schedule: its shifts are in no personal feed.
    other = await make_schedule(db, team, "Retired", starts_at="2026-07-01T09:00:00+00:00", now=now)
    await set_active(db, team.workspace.id, other.id, False, now)
    feeds = Feeds(db, team)
    events = await feeds.read(await feeds.token("vic", schedule), now)
    starts = {e.start for e in events}
    assert utc(2026, 6, 13, 9) not in starts  # ended Sun 14 Jun 09:00, 31 days before now
    assert utc(2026, 6, 14, 9) not in starts  # ended exactly 30 days before now (not after)
    assert (events[0].start, events[0].end, events[0].summary) == (
        utc(2026, 6, 15, 9),
        utc(2026, 6, 16, 9),  # ended 29 days before now
        "Ann — Ops",
    )
    assert events[1].summary == "Ben — Ops"
    # The horizon: now + 8 weeks = Wed 9 Sep 09:00, a hand-off, so the last shift ends there.
    assert events[-1].end == utc(2026, 9, 9, 9)
    await db.commit()
    last_slot_end = await db.scalar(select(func.max(OnCallSlot.end_time)).where(OnCallSlot.schedule_id == schedule.id))
    assert last_slot_end == utc(2026, 9, 9, 9)
    assert len(events) == 86  # one per day from 15 Jun to 8 Sep
    assert all(a.end == b.start for a, b in itertools.pairwise(events))
    mine = await feeds.read(await feeds.token("ann"), now)
    assert mine[0].start == utc(2026, 6, 15, 9)
    assert {e.summary for e in mine} == {"On call: Ops"}  # nothing of the inactive schedule
    assert [e.start for e in mine] == [e.start for e in events if e.summary == "Ann — Ops"]


# ---------------------------------------------------------------- HTTP: the API, the Settings form, the route


@dataclass
class Api:
    client: AsyncTestClient[Any]
    team: Team
    schedule: OnCallSchedule
    auth: dict[str, dict[str, str]]


@pytest.fixture
async def api(settings: Settings, db: AsyncSession) -> AsyncIterator[Api]:
    team = await make_team(db, roles=ROLES)
    now = datetime.datetime.now(datetime.UTC)
    schedule = await make_schedule(
        db, team, "Ops", starts_at=(now - datetime.timedelta(hours=1)).isoformat(), now=now, members=("ann", "ben")
    )
    tokens = {k: await issue_token(db, team.workspace.id, team[k].id) for k in ("owner", "ann", "ben", "vic")}
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Api(client, team, schedule, {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()})


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC + "/calendar/") and url.endswith(".ics"), url
    return url.removeprefix(PUBLIC)


async def new_feed(api: Api, who: str, body: dict[str, str]) -> tuple[str, str]:
    created = await api.client.post("/api/v1/ws/acme/calendar-feeds", json=body, headers=api.auth[who])
    assert created.status_code == 201, created.text
    return created.json()["id"], path_of(created.json()["url"])


async def test_the_feed_route_serves_utc_ical_with_the_real_clock(api: Api, db: AsyncSession) -> None:
    created = await api.client.post("/api/v1/ws/acme/calendar-feeds", json={}, headers=api.auth["ann"])
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "url", "webcal_url"}
    assert body["webcal_url"] == "webcal://" + body["url"].removeprefix("http://")
    token = body["url"].rsplit("/", 1)[1].removesuffix(".ics")
    await db.commit()
    stored = await db.scalar(select(CalendarFeed).where(CalendarFeed.id == uuid.UUID(body["id"])))
    assert stored is not None and stored.token_hash == hashlib.sha256(token.encode()).hexdigest()  # hashed only

    response = await api.client.get(path_of(body["url"]))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    assert b"TZID" not in response.content  # every time in UTC
    calendar = icalendar.Calendar.from_ical(response.content)
    assert str(calendar["X-WR-CALNAME"]) == "On call: Ann (Acme)"
    events = events_of(response.content)
    now = datetime.datetime.now(datetime.UTC)
    assert events and events[0].start < now < events[0].end  # ann holds the current shift
    assert {e.summary for e in events} == {"On call: Ops"}
    first = calendar.walk("VEVENT")[0]
    assert str(first["URL"]) == f"{PUBLIC}/ws/acme/oncall/schedules/{api.schedule.id}"

    # A schedule feed of the same schedule (a viewer's): everyone, named.
    _, path = await new_feed(api, "vic", {"schedule_id": str(api.schedule.id)})
    everyone = events_of((await api.client.get(path)).content)
    assert [e.summary for e in everyone[:2]] == ["Ann — Ops", "Ben — Ops"]
    # Deleting the schedule takes its feed with it: 404, not an error.
    await delete_schedule(await fresh(db), api.team.workspace.id, api.schedule.id)
    assert (await api.client.get(path)).status_code == 404


async def test_revoked_unknown_and_malformed_feeds_are_404(api: Api) -> None:
    client = api.client
    feed_id, path = await new_feed(api, "ann", {})
    assert (await client.get(path)).status_code == 200
    assert (await client.get(path.removesuffix(".ics"))).status_code == 404  # no ".ics"
    assert (await client.get("/calendar/" + "x" * 32 + ".ics")).status_code == 404  # unknown
    assert (await client.get("/calendar/.ics")).status_code == 404
    assert (await client.get("/calendar/" + "x" * 300 + ".ics")).status_code == 404

    # Another person's feed: not found for ann, and it keeps working.
    bens_id, bens_path = await new_feed(api, "ben", {})
    assert (
        await client.delete(f"/api/v1/ws/acme/calendar-feeds/{bens_id}", headers=api.auth["ann"])
    ).status_code == 404
    assert (await client.get(bens_path)).status_code == 200

    revoked = await client.delete(f"/api/v1/ws/acme/calendar-feeds/{feed_id}", headers=api.auth["ann"])
    assert revoked.status_code == 204
    assert (await client.get(path)).status_code == 404
    again = await client.delete(f"/api/v1/ws/acme/calendar-feeds/{feed_id}", headers=api.auth["ann"])
    assert again.status_code == 404
    for bad in ("not-a-uuid", str(uuid.uuid4())):
        missing = await client.delete(f"/api/v1/ws/acme/calendar-feeds/{bad}", headers=api.auth["ann"])
        assert missing.status_code == 404, missing.text
    assert (await client.get(bens_path)).status_code == 200


async def test_schedule_feeds_are_for_anyone_who_may_view_this_workspaces_schedules(api: Api, db: AsyncSession) -> None:
    _, path = await new_feed(api, "vic", {"schedule_id": str(api.schedule.id)})  # a viewer may
    assert (await api.client.get(path)).status_code == 200
    elsewhere = await make_team(db, "globex", {"gus": Role.OWNER, "hal": Role.MEMBER})
    now = datetime.datetime.now(datetime.UTC)
    theirs = await create_schedule(
        db,
        elsewhere.workspace.id,
        {
            "name": "Globex",
            "rotation": "daily",
            "timezone": "UTC",
            "handoff_time": "09:00",
            "members": [elsewhere["hal"].email],
            "escalation_to": elsewhere["gus"].email,
        },
        now,
    )
    for bad in (str(theirs.id), "not-a-uuid", str(uuid.uuid4())):
        refused = await api.client.post(
            "/api/v1/ws/acme/calendar-feeds", json={"schedule_id": bad}, headers=api.auth["ann"]
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in refused.json()["errors"]] == ["schedule_id"]
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(CalendarFeed)) == 1


FEED_URL = re.compile(r'id="new-feed-url">([^<]+)<')


async def test_settings_form_creates_and_revokes_a_feed(api: Api, db: AsyncSession) -> None:
    client = api.client
    await login(client, api.team["ann"].email, PASSWORD)
    made = await post_form(client, "/ws/acme/settings/feeds", {"schedule_id": ""}, from_page="/ws/acme/settings/")
    assert made.status_code == 200, made.text
    match = FEED_URL.search(made.text)
    assert match, made.text
    path = path_of(match.group(1))
    assert (await client.get(path)).status_code == 200
    await db.commit()
    feed_id = await db.scalar(select(CalendarFeed.id).where(CalendarFeed.user_id == api.team["ann"].id))
    revoked = await post_form(client, f"/ws/acme/settings/feeds/{feed_id}/revoke", {}, from_page="/ws/acme/settings/")
    assert revoked.status_code == 303, revoked.text
    assert (await client.get(path)).status_code == 404
    page = await client.get("/ws/acme/settings/")
    assert "No calendar feeds yet." in page.text


async def test_settings_page_title_holds_only_the_title(api: Api) -> None:
    """app/templates/settings/index.html line 2 puts the whole Calendar feeds section inside
    {% block title %}: the <title> holds the section's HTML (and, right after creation, the secret
    feed URL), and the section appears twice on the page."""
    await login(api.client, api.team["ann"].email, PASSWORD)
    made = await post_form(api.client, "/ws/acme/settings/feeds", {"schedule_id": ""}, from_page="/ws/acme/settings/")
    assert made.status_code == 200
    title = re.search(r"<title>(.*?)</title>", made.text, re.S)
    assert title is not None
    assert title.group(1).strip() == "Settings · Acme", title.group(1)[:200]
    assert made.text.count('id="calendar-feeds"') == 1
    assert made.text.count('id="new-feed-url"') == 1


async def test_a_deactivated_members_feeds_stop_and_return_with_reactivation(api: Api, db: AsyncSession) -> None:
    _, personal = await new_feed(api, "ann", {})
    _, scheduled = await new_feed(api, "ann", {"schedule_id": str(api.schedule.id)})
    _, bens = await new_feed(api, "ben", {})
    for path in (personal, scheduled, bens):
        assert (await api.client.get(path)).status_code == 200
    await db.commit()
    membership_id = await db.scalar(
        select(Membership.id).where(
            Membership.workspace_id == api.team.workspace.id, Membership.user_id == api.team["ann"].id
        )
    )
    assert membership_id is not None
    owner = await access(db, api.team, "owner")
    await change_member(db, owner, membership_id, "member", False, datetime.datetime.now(datetime.UTC))
    assert (await api.client.get(personal)).status_code == 404
    assert (await api.client.get(scheduled)).status_code == 404
    assert (await api.client.get(bens)).status_code == 200  # only her feeds stop
    await change_member(await fresh(db), owner, membership_id, "member", True, datetime.datetime.now(datetime.UTC))
    assert (await api.client.get(personal)).status_code == 200
    assert (await api.client.get(scheduled)).status_code == 200


# ---------------------------------------------------------------- 7. GET /me/shifts


async def test_my_shifts_are_whole_overlapping_shifts(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    schedule = await ops(db, team)  # ann Mon, ben Tue, cat Wed, ann Thu ... at 09:00 UTC
    # Backup: ben and ann daily at 21:00 UTC from Mon 1 Jun (ben Mon night, ann Tue night ...).
    await make_schedule(
        db, team, "Backup", handoff="21:00", starts_at="2026-06-01T21:00:00+00:00", now=CREATED, members=("ben", "ann")
    )
    # Ann takes the first three hours of ben's Tuesday: her Monday shift runs to Tue 12:00 (two slots).
    await override(db, team, schedule, "ann", utc(2026, 6, 2, 9), utc(2026, 6, 2, 12), utc(2026, 6, 1, 12))
    tokens = {k: await issue_token(db, team.workspace.id, team[k].id) for k in ("ann", "ben")}
    ops_ref = {"id": str(schedule.id), "name": "Ops"}

    async with AsyncTestClient(app=create_app(settings)) as client:

        async def shifts(
            who: str, start: str, end: str
        ) -> list[tuple[str, datetime.datetime, datetime.datetime, bool]]:
            response = await client.get(
                "/api/v1/ws/acme/me/shifts",
                params={"start": start, "end": end},
                headers={"Authorization": f"Bearer {tokens[who]}"},
            )
            assert response.status_code == 200, response.text
            rows = response.json()
            assert all(r["schedule"] == ops_ref for r in rows if r["schedule"]["name"] == "Ops")
            return [
                (
                    r["schedule"]["name"],
                    datetime.datetime.fromisoformat(r["start"]),
                    datetime.datetime.fromisoformat(r["end"]),
                    r["is_override"],
                )
                for r in rows
            ]

        monday = ("Ops", utc(2026, 6, 1, 9), utc(2026, 6, 2, 12), True)  # override at its end: is_override
        # A window inside the override part: the shift from its true start (Mon 09:00).
        assert await shifts("ann", "2026-06-02T10:00:00Z", "2026-06-02T11:00:00Z") == [monday]
        # A window inside the rotation part: the whole shift, to its true end (Tue 12:00).
        assert await shifts("ann", "2026-06-01T12:00:00+00:00", "2026-06-01T13:00:00+00:00") == [monday]
        # Windows are half-open: the Monday shift ends as this one starts.
        assert await shifts("ann", "2026-06-02T12:00:00Z", "2026-06-03T00:00:00Z") == [
            ("Backup", utc(2026, 6, 2, 21), utc(2026, 6, 3, 21), False)
        ]
        assert await shifts("ann", "2026-06-02T00:00:00Z", "2026-06-04T12:00:00+02:00") == [
            monday,
            ("Backup", utc(2026, 6, 2, 21), utc(2026, 6, 3, 21), False),
            ("Ops", utc(2026, 6, 4, 9), utc(2026, 6, 5, 9), False),
        ]
        # Ben's own, not ann's: his Backup night and the rest of his Tuesday.
        assert await shifts("ben", "2026-06-02T10:00:00Z", "2026-06-02T13:00:00Z") == [
            ("Backup", utc(2026, 6, 1, 21), utc(2026, 6, 2, 21), False),
            ("Ops", utc(2026, 6, 2, 12), utc(2026, 6, 3, 9), False),
        ]

        auth = {"Authorization": f"Bearer {tokens['ann']}"}
        for params, field in (
            ({"start": "2026-06-02T10:00:00Z", "end": "2026-06-02T10:00:00Z"}, "end"),
            ({"start": "2026-06-02T10:00:00Z", "end": "2026-06-01T10:00:00Z"}, "end"),
            ({"start": "yesterday", "end": "2026-06-02T10:00:00Z"}, "start"),
            ({"start": "2026-06-02T10:00:00", "end": "2026-06-03T10:00:00Z"}, "start"),  # no offset
            ({"start": "2026-06-01T00:00:00Z", "end": "2027-09-01T00:00:00Z"}, "end"),  # over 400 days
        ):
            refused = await client.get("/api/v1/ws/acme/me/shifts", params=params, headers=auth)
            assert refused.status_code == 422, (params, refused.text)
            assert [e["field"] for e in refused.json()["errors"]] == [field], refused.text
