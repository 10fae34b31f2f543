"""Shift reminders on both databases (issue 23): the choice through /me and the profile form; the rows
the planner writes ahead (once per shift and channel, due at start minus the lead, DST-correct text);
a shift given away is not reminded, a split shift is reminded twice; scaled leads; a missing contact
point skips once; viewers and deactivated people get none. Sends go through the app's embedded
worker and the real delivery actor to the fake Slack and Twilio.

Most tests plan at fixed instants around the DST change of Sun 25 Oct 2026 in Europe/Berlin (clocks
go back from 03:00 CEST to 02:00 CET): the schedule, the planner and the overrides all take `now`
from the test. The daily schedule hands off at 09:00 Berlin time, so a shift starts at 07:00 UTC
before the change and at 08:00 UTC after it. The embedded worker's delivery actor sends with the real
clock, which is past those instants, so a woken row is due and goes out at once (an early wake-up
is covered with send_logged and a chosen `now`, and the scaled-lead test runs on real time).

Some tests state what the app should do and fail today; each docstring says what is expected."""

from __future__ import annotations

import asyncio
import datetime
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import dramatiq
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import DeliveryLog, Membership, OnCallSchedule, UserProfile
from app.db.transactions import writing
from app.domain.reminders import reminder_id, shift_key
from app.domain.roles import Role
from app.integrations.slack import Outcome, SendResult
from app.main import create_app
from app.services import jobs
from app.services.accounts import ProfileInput, update_profile
from app.services.deliveries import Outgoing, send_logged, sweep_stalled
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.memberships import change_member
from app.services.overrides import edit_slot
from app.services.reminders import plan_reminders, set_reminder_choice
from app.services.schedules import create_schedule, set_active, slot_at
from app.services.tokens import issue_token
from app.tasks.periodic import tick
from tests.factories import PASSWORD, Team, fresh, make_team, reload
from tests.fakes.servers import FakeServer
from tests.web import csrf_token, login

UTC = datetime.UTC
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
REAL = 60.0  # seconds per minute of lead: unscaled
BERLIN = "Europe/Berlin"
ROLES = {
    "owner": Role.OWNER,
    "ann": Role.MEMBER,
    "ben": Role.MEMBER,
    "cat": Role.MEMBER,
    "dan": Role.MEMBER,
    "vic": Role.VIEWER,
}
MADE = datetime.datetime(2026, 10, 19, 12, 0, tzinfo=UTC)  # Mon 19 Oct 2026: the schedules are made
ANCHOR = datetime.datetime(2026, 10, 20, 7, 0, tzinfo=UTC)  # Tue 20 Oct 09:00 CEST: the first shift
FRI = datetime.datetime(2026, 10, 23, 7, 0, tzinfo=UTC)  # Fri 23 Oct 09:00 CEST (UTC+2)
SAT = datetime.datetime(2026, 10, 24, 7, 0, tzinfo=UTC)  # Sat 24 Oct 09:00 CEST (UTC+2)
MON = datetime.datetime(2026, 10, 26, 8, 0, tzinfo=UTC)  # Mon 26 Oct 09:00 CET (UTC+1), after the change
GIVEN_AWAY = "not sent: the shift was given away, changed or paused before its reminder"
ME = "/api/v1/ws/acme/me"
PROFILE = "/ws/acme/profile/"


def text(at: str, zone: str = BERLIN, lead: str = "1 h", name: str = "Platform") -> str:
    return f"Vigilo: {name} starts in {lead}, at {at} {zone}. You are on call then."


def is_reminder(body: str) -> bool:
    """A shift reminder (not an on-call DM or a "your shifts changed" notice the same change sends)."""
    return body.startswith("Vigilo: ") and " starts in " in body


@dataclass
class World:
    db: AsyncSession
    team: Team
    settings: Settings
    client: AsyncTestClient[Any]
    broker: dramatiq.Broker
    slack: FakeServer
    twilio: FakeServer

    def access(self) -> WorkspaceAccess:
        """The owner's: overrides and membership changes are made by the owner."""
        return WorkspaceAccess(WorkspaceRef.of(self.team.workspace), UserRef.of(self.team["owner"]), Role.OWNER)

    async def auth(self, key: str) -> dict[str, str]:
        token = await issue_token(self.db, self.team.workspace.id, self.team[key].id)
        return {"Authorization": f"Bearer {token}"}

    async def daily(self, members: Sequence[str], name: str = "Platform") -> OnCallSchedule:
        """A daily Berlin rotation of `members`, 09:00 hand-offs from Tue 20 Oct 2026 (the first member's)."""
        body = {
            "name": name,
            "rotation": "daily",
            "timezone": BERLIN,
            "handoff_time": "09:00",
            "starts_at": ANCHOR.isoformat(),
            "members": [self.team[k].email for k in members],
        }
        return await create_schedule(self.db, self.team.workspace.id, body, MADE)

    async def remind(self, key: str, minutes: int, channels: Sequence[str]) -> None:
        await set_reminder_choice(self.db, self.team[key].id, minutes, channels)

    async def plan(
        self, now: datetime.datetime, scale: float = REAL
    ) -> list[tuple[uuid.UUID, datetime.datetime | None]]:
        return await plan_reminders(self.db, now, scale)

    async def rows(self) -> list[DeliveryLog]:
        """Every reminder row, by the start of its shift, Slack before SMS."""
        session = await fresh(self.db)
        found = await session.scalars(select(DeliveryLog).where(DeliveryLog.shift_key.is_not(None)))
        return sorted(found, key=lambda r: ((r.shift_key or "").split(" ")[-1], r.channel))

    async def send(self, rows: Sequence[DeliveryLog]) -> None:
        """Wake the real delivery actor for each row on the app's embedded worker, and wait for it."""
        await jobs.deliver([row.id for row in rows])
        await asyncio.to_thread(self.broker.join, "notifications", timeout=30_000)

    async def give(self, key: str, at: datetime.datetime, now: datetime.datetime, **bounds: str) -> None:
        """The owner overrides the slot covering `at` (or the part of it in `bounds`) for `key`."""
        slot = await slot_at(await fresh(self.db), await self._schedule_id(), at)
        assert slot is not None
        await edit_slot(self.db, self.access(), slot.id, {"user": self.team[key].email, **bounds}, now)

    async def holder(self, at: datetime.datetime) -> uuid.UUID | None:
        slot = await slot_at(await fresh(self.db), await self._schedule_id(), at)
        return slot.user_id if slot else None

    async def _schedule_id(self) -> uuid.UUID:
        found = await self.db.scalar(select(OnCallSchedule.id).where(OnCallSchedule.name == "Platform"))
        assert found is not None
        return found

    def dms(self) -> list[tuple[str, str]]:
        """Reminder DMs the fake Slack got: (channel, text)."""
        posts = [
            (str(c.params.get("channel")), str(c.params.get("text"))) for c in self.slack.calls("chat.postMessage")
        ]
        return [(channel, body) for channel, body in posts if is_reminder(body)]

    def texts(self) -> list[tuple[str, str]]:
        """Reminder SMS the fake Twilio got: (to, body)."""
        sent = [(c.form.get("To", ""), c.form.get("Body", "")) for c in self.twilio.calls("/Messages.json")]
        return [(to, body) for to, body in sent if is_reminder(body)]

    def dm_channel(self, key: str) -> str:
        """The DM channel the fake Slack opens with `key` (conversations.open answers "D" + the id)."""
        return "D" + (self.team[key].slack_user_id or "")[1:]


@pytest.fixture
async def world(
    integration_settings: Settings, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> AsyncIterator[World]:
    """Ann (Europe/Berlin), Ben, Cat and Dan (members, UTC), Vic (viewer); the app running its embedded worker."""
    team = await make_team(db, "acme", ROLES)
    await update_profile(db, team["ann"].id, ProfileInput("Ann", BERLIN))
    async with AsyncTestClient(app=create_app(integration_settings)) as client:
        yield World(db, team, integration_settings, client, dramatiq.get_broker(), fake_slack, fake_twilio)


# ---------------------------------------------------------------- the choice: /me and the profile form


def fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


async def test_me_reads_and_changes_the_reminder_choice(world: World) -> None:
    auth = await world.auth("ann")
    me = await world.client.get(ME, headers=auth)
    assert me.status_code == 200, me.text
    assert (me.json()["reminder_minutes"], me.json()["reminder_channels"]) == (0, ["slack"])

    both = await world.client.patch(
        ME, json={"reminder_minutes": 60, "reminder_channels": ["slack", "sms"]}, headers=auth
    )
    assert both.status_code == 200, both.text
    assert (both.json()["reminder_minutes"], both.json()["reminder_channels"]) == (60, ["slack", "sms"])
    again = (await world.client.get(ME, headers=auth)).json()
    assert (again["reminder_minutes"], again["reminder_channels"], again["page_by"]) == (60, ["slack", "sms"], ["sms"])
    user = await reload(world.db, UserProfile, world.team["ann"].id)
    assert (user.reminder_minutes, user.reminder_by_slack, user.reminder_by_sms) == (60, True, True)

    # Only the minutes: the channels stay; only the channels: the minutes stay.
    day = await world.client.patch(ME, json={"reminder_minutes": 1440}, headers=auth)
    assert (day.json()["reminder_minutes"], day.json()["reminder_channels"]) == (1440, ["slack", "sms"])
    sms = await world.client.patch(ME, json={"reminder_channels": ["SMS"]}, headers=auth)
    assert (sms.json()["reminder_minutes"], sms.json()["reminder_channels"]) == (1440, ["sms"])
    off = await world.client.patch(ME, json={"reminder_minutes": 0, "reminder_channels": []}, headers=auth)
    assert off.status_code == 200, off.text
    assert (off.json()["reminder_minutes"], off.json()["reminder_channels"]) == (0, [])

    # A viewer chooses too (and is reminded of nothing: they hold no shifts).
    vic = await world.client.patch(ME, json={"reminder_minutes": 15}, headers=await world.auth("vic"))
    assert vic.status_code == 200, vic.text
    assert (vic.json()["role"], vic.json()["reminder_minutes"], vic.json()["reminder_channels"]) == (
        "viewer",
        15,
        ["slack"],
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reminder_minutes": 5}, "reminder_minutes"),
        ({"reminder_minutes": 5, "page_by": ["voice"], "voice_after_minutes": 3}, "reminder_minutes"),
        ({"reminder_minutes": -60}, "reminder_minutes"),
        ({"reminder_channels": ["email"]}, "reminder_channels"),
        ({"reminder_channels": ["slack", "email"], "page_by": ["voice"]}, "reminder_channels"),
        ({"reminder_minutes": 60, "reminder_channels": []}, "reminder_channels"),
        ({"reminder_minutes": 15, "reminder_channels": [], "page_by": ["sms", "voice"]}, "reminder_channels"),
    ],
)
async def test_me_refuses_a_bad_reminder_and_changes_nothing(world: World, body: dict[str, Any], field: str) -> None:
    auth = await world.auth("ann")
    set_up = await world.client.patch(ME, json={"reminder_minutes": 60, "reminder_channels": ["sms"]}, headers=auth)
    assert set_up.status_code == 200, set_up.text
    before = (await world.client.get(ME, headers=auth)).json()

    refused = await world.client.patch(ME, json=body, headers=auth)
    assert fields(refused) == [field], refused.text
    assert (await world.client.get(ME, headers=auth)).json() == before
    user = await reload(world.db, UserProfile, world.team["ann"].id)
    assert (user.reminder_minutes, user.reminder_by_slack, user.reminder_by_sms) == (60, False, True)
    assert (user.page_by_sms, user.page_by_voice, user.voice_after_minutes) == (True, False, 0)


async def test_me_names_every_bad_field_when_the_reminder_and_the_paging_are_both_wrong(world: World) -> None:
    """The API names every invalid field at once (as /me does for page_by with voice_after_minutes)."""
    auth = await world.auth("ann")
    refused = await world.client.patch(ME, json={"page_by": [], "reminder_minutes": 5}, headers=auth)
    assert set(fields(refused)) == {"page_by", "reminder_minutes"}, refused.text


def selected_lead(page: str) -> list[str]:
    start = page.index('<select id="reminder_minutes"')
    return re.findall(r'<option value="(\d+)" selected>', page[start : page.index("</select>", start)])


def reminded_by(page: str, channel: str) -> bool:
    match = re.search(rf'<input type="checkbox" name="reminder_channels" value="{channel}"([^>]*)>', page)
    assert match, f"no reminder_channels checkbox {channel}"
    return "checked" in match.group(1)


async def post_reminders(client: AsyncTestClient[Any], minutes: str, channels: Sequence[str]) -> Any:
    token = await csrf_token(client, PROFILE)
    form = [("_csrf_token", token), ("reminder_minutes", minutes), *(("reminder_channels", c) for c in channels)]
    return await client.post(
        PROFILE + "reminders",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


async def test_profile_form_saves_a_reminder_and_shows_errors_beside_the_fields(world: World) -> None:
    ann = world.team["ann"]
    await login(world.client, ann.email, PASSWORD)
    page = (await world.client.get(PROFILE)).text
    assert 'id="reminders-section"' in page
    assert (selected_lead(page), reminded_by(page, "slack"), reminded_by(page, "sms")) == (["0"], True, False)

    saved = await post_reminders(world.client, "15", ["sms"])
    assert saved.status_code == 303, saved.text
    shown = (await world.client.get(saved.headers["location"])).text
    assert "Saved your shift reminders" in shown
    assert (selected_lead(shown), reminded_by(shown, "slack"), reminded_by(shown, "sms")) == (["15"], False, True)
    user = await reload(world.db, UserProfile, ann.id)
    assert (user.reminder_minutes, user.reminder_by_slack, user.reminder_by_sms) == (15, False, True)

    nothing = await post_reminders(world.client, "60", [])
    assert nothing.status_code == 422, nothing.text
    error = re.search(
        r'<fieldset aria-invalid="true" aria-describedby="reminder_channels-error">.*?</fieldset>\s*'
        r'<p class="error" id="reminder_channels-error" role="alert">([^<]*)</p>',
        nothing.text,
        re.S,
    )
    assert error, nothing.text
    assert error.group(1) == "Choose Slack, SMS or both to be reminded by (or turn reminders off)."
    assert 'id="reminder_minutes-error"' not in nothing.text
    assert selected_lead(nothing.text) == ["60"]  # what was chosen stays in the form

    odd = await post_reminders(world.client, "5", ["slack"])
    assert odd.status_code == 422, odd.text
    minutes_error = re.search(
        r'<select id="reminder_minutes" name="reminder_minutes" aria-invalid="true" '
        r'aria-describedby="reminder_minutes-error">.*?</select>\s*'
        r'<p class="error" id="reminder_minutes-error" role="alert">([^<]*)</p>',
        odd.text,
        re.S,
    )
    assert minutes_error and "15, 60 or 1440" in minutes_error.group(1), odd.text
    assert 'id="reminder_channels-error"' not in odd.text
    assert reminded_by(odd.text, "slack") and not reminded_by(odd.text, "sms")

    user = await reload(world.db, UserProfile, ann.id)
    assert (user.reminder_minutes, user.reminder_by_slack, user.reminder_by_sms) == (15, False, True)
    forged = await world.client.post(PROFILE + "reminders", data={"reminder_minutes": "0"}, follow_redirects=False)
    assert forged.status_code == 403
    assert (await reload(world.db, UserProfile, ann.id)).reminder_minutes == 15


# ---------------------------------------------------------------- once per shift, DST-correct


async def test_a_shift_is_reminded_once_per_channel(world: World) -> None:
    schedule = await world.daily(["ann", "ben"])
    ann = world.team["ann"]
    await world.remind("ann", 60, ["slack", "sms"])
    assert await world.plan(SAT - 3 * HOUR) == []  # not yet: the shift starts after now + lead + 1 h

    planned = await world.plan(SAT - 90 * MINUTE)
    rows = await world.rows()
    assert [(r.channel, r.target, r.status, r.retry_at) for r in rows] == [
        ("slack", ann.slack_user_id, "pending", datetime.datetime(2026, 10, 24, 6, 0, tzinfo=UTC)),
        ("sms", ann.phone, "pending", datetime.datetime(2026, 10, 24, 6, 0, tzinfo=UTC)),
    ]
    assert sorted(planned) == sorted((r.id, r.retry_at) for r in rows)
    key = f"{schedule.id} {ann.id} 2026-10-24T07:00:00+00:00"
    assert key == shift_key(schedule.id, ann.id, SAT)
    assert [(r.shift_key, r.external_id) for r in rows] == [
        (key, reminder_id(key, "slack")),
        (key, reminder_id(key, "sms")),
    ]
    assert {r.summary for r in rows} == {text("09:00")}
    assert {r.workspace_id for r in rows} == {world.team.workspace.id}

    # Every later run (ticks come every few seconds) writes nothing more for that shift.
    for now in (SAT - 90 * MINUTE, SAT - 89 * MINUTE, SAT - HOUR, SAT - 10 * MINUTE, SAT - MINUTE, SAT + MINUTE):
        assert await world.plan(now) == [], now
    assert [r.id for r in await world.rows()] == [r.id for r in rows]

    await world.send(rows)
    assert [(r.status, r.attempts) for r in await world.rows()] == [("sent", 1), ("sent", 1)]
    assert world.dms() == [(world.dm_channel("ann"), text("09:00"))]
    assert world.texts() == [(ann.phone, text("09:00"))]
    await world.send(rows)  # a second wake-up sends nothing twice
    assert len(world.dms()) == 1 and len(world.texts()) == 1
    assert await world.plan(SAT - 30 * MINUTE) == []


async def test_the_text_says_09_00_on_both_sides_of_the_dst_change(world: World) -> None:
    await world.daily(["ann", "ben"])
    await world.remind("ann", 60, ["slack", "sms"])
    await world.plan(SAT - 90 * MINUTE)  # Sat 24 Oct: CEST, 09:00 is 07:00 UTC
    await world.plan(MON - 90 * MINUTE)  # Mon 26 Oct: CET, 09:00 is 08:00 UTC
    rows = await world.rows()
    assert [(r.channel, r.retry_at, r.summary) for r in rows] == [
        ("slack", datetime.datetime(2026, 10, 24, 6, 0, tzinfo=UTC), text("09:00")),
        ("sms", datetime.datetime(2026, 10, 24, 6, 0, tzinfo=UTC), text("09:00")),
        ("slack", datetime.datetime(2026, 10, 26, 7, 0, tzinfo=UTC), text("09:00")),
        ("sms", datetime.datetime(2026, 10, 26, 7, 0, tzinfo=UTC), text("09:00")),
    ]
    assert [r.shift_key.split(" ")[2] for r in rows if r.shift_key] == [
        "2026-10-24T07:00:00+00:00",
        "2026-10-24T07:00:00+00:00",
        "2026-10-26T08:00:00+00:00",
        "2026-10-26T08:00:00+00:00",
    ]
    await world.send(rows)
    assert world.dms() == [(world.dm_channel("ann"), text("09:00"))] * 2
    assert world.texts() == [(world.team["ann"].phone, text("09:00"))] * 2


async def test_a_day_ahead_names_the_day_in_the_persons_zone(world: World) -> None:
    await world.daily(["ann", "ben"])  # Ann: Sat 24 and Mon 26 Oct; Ben: Sun 25 Oct 08:00 UTC
    await world.remind("ann", 1440, ["slack"])
    assert await world.plan(SAT - 26 * HOUR) == []  # a day and an hour is the window: not yet
    await world.remind("ben", 1440, ["slack"])  # Ben keeps UTC
    await world.plan(datetime.datetime(2026, 10, 24, 7, 30, tzinfo=UTC))  # Ben's Sunday is 24.5 h ahead
    await world.plan(MON - 24 * HOUR - 30 * MINUTE)  # Sun 25 Oct 07:30 UTC: Sun 08:30 CET for Ann
    rows = await world.rows()
    assert [(r.target, r.retry_at, r.summary) for r in rows] == [
        (
            world.team["ben"].slack_user_id,
            datetime.datetime(2026, 10, 24, 8, 0, tzinfo=UTC),
            text("Sun 25 Oct 08:00", zone="UTC", lead="1 day"),
        ),
        (
            world.team["ann"].slack_user_id,
            datetime.datetime(2026, 10, 25, 8, 0, tzinfo=UTC),  # 24 hours before Mon 08:00 UTC
            text("Mon 26 Oct 09:00", lead="1 day"),
        ),
    ]


async def test_a_reminder_sent_at_once_does_not_claim_the_whole_lead(world: World) -> None:
    """A shift that comes to someone inside their lead (handed over 20 minutes before it starts) is
    reminded at once; its text must not say it starts in 1 h when it starts in 20 minutes."""
    schedule = await world.daily(["ann", "ben", "cat"])  # Ann Fri 23 Oct 07:00 UTC, Ben Sat 24
    ben = world.team["ben"]
    await world.remind("ben", 60, ["slack"])
    await world.give("ben", FRI + HOUR, FRI - 20 * MINUTE)
    planned = await world.plan(FRI - 19 * MINUTE)
    (row,) = await world.rows()
    assert planned == [(row.id, None)]  # due already: sent at once
    assert (row.shift_key, row.target) == (shift_key(schedule.id, ben.id, FRI), ben.slack_user_id)
    assert "at 07:00 UTC" in row.summary
    assert "starts in 1 h" not in row.summary, row.summary


# ---------------------------------------------------------------- given away, split


async def test_a_shift_given_away_is_not_reminded_and_its_new_holder_is(world: World) -> None:
    schedule = await world.daily(["ann", "ben", "cat"])  # Ann Fri 23 Oct, Ben Sat 24, Cat Sun 25
    ann, ben = world.team["ann"], world.team["ben"]
    await world.remind("ann", 60, ["slack", "sms"])
    await world.remind("ben", 60, ["slack"])
    await world.plan(FRI - 90 * MINUTE)
    (ann_slack, ann_sms) = await world.rows()
    assert (ann_slack.target, ann_sms.target) == (ann.slack_user_id, ann.phone)

    await world.give("ben", FRI + HOUR, FRI - 80 * MINUTE)  # the whole slot: Ben holds Fri and Sat in one shift
    assert await world.holder(FRI + HOUR) == ben.id

    await world.send([ann_slack, ann_sms])
    done = {r.id: r for r in await world.rows()}
    assert [(done[r.id].status, done[r.id].error, done[r.id].attempts) for r in (ann_slack, ann_sms)] == [
        ("skipped", GIVEN_AWAY, 0),
        ("skipped", GIVEN_AWAY, 0),
    ]
    assert world.dms() == [] and world.texts() == []

    # Ben is reminded of the shift he took, once, in his own zone.
    planned = await world.plan(FRI - 75 * MINUTE)
    for now in (FRI - 70 * MINUTE, FRI - HOUR, FRI - 30 * MINUTE):
        assert await world.plan(now) == []
    rows = [r for r in await world.rows() if r.id not in done]
    assert [(r.target, r.channel, r.status, r.retry_at, r.summary) for r in rows] == [
        (ben.slack_user_id, "slack", "pending", FRI - HOUR, text("07:00", zone="UTC"))
    ]
    assert [row_id for row_id, _ in planned] == [rows[0].id]
    assert rows[0].shift_key == shift_key(schedule.id, ben.id, FRI)
    await world.send(rows)
    assert world.dms() == [(world.dm_channel("ben"), text("07:00", zone="UTC"))]
    assert world.texts() == []


async def test_a_split_shift_is_two_shifts_each_reminded_once(world: World) -> None:
    schedule = await world.daily(["ann", "ben"])  # Ann: Sat 24 Oct 09:00 CEST to Sun 25 Oct 09:00 CET
    ann = world.team["ann"]
    await world.remind("ann", 60, ["slack"])
    await world.plan(SAT - 2 * HOUR)
    await world.plan(SAT - 90 * MINUTE)
    (first,) = await world.rows()
    # Cat takes 14:00-17:00 Berlin time out of the middle: Ann now has two shifts.
    noon, three = SAT + 5 * HOUR, SAT + 8 * HOUR
    await world.give("cat", SAT + HOUR, SAT - 80 * MINUTE, start=noon.isoformat(), end=three.isoformat())
    assert [await world.holder(at) for at in (SAT, noon, three)] == [ann.id, world.team["cat"].id, ann.id]

    assert (first.shift_key, first.retry_at) == (shift_key(schedule.id, ann.id, SAT), SAT - HOUR)
    await world.send([first])  # the first part still starts at 09:00: its reminder goes out
    now = SAT - 75 * MINUTE
    while now <= three + HOUR:  # a planning run every quarter of an hour through the day
        await world.plan(now)
        now += 15 * MINUTE
    rows = await world.rows()
    assert [(r.shift_key, r.status, r.summary) for r in rows] == [
        (shift_key(schedule.id, ann.id, SAT), "sent", text("09:00")),
        (shift_key(schedule.id, ann.id, three), "pending", text("17:00")),  # 17:00 Berlin time
    ]
    assert rows[1].retry_at == datetime.datetime(2026, 10, 24, 14, 0, tzinfo=UTC)
    await world.send(rows)
    assert [r.status for r in await world.rows()] == ["sent", "sent"]
    assert world.dms() == [(world.dm_channel("ann"), text("09:00")), (world.dm_channel("ann"), text("17:00"))]


async def test_a_shift_that_now_starts_later_is_reminded_at_its_new_start(world: World) -> None:
    schedule = await world.daily(["ann", "ben"])
    ann = world.team["ann"]
    await world.remind("ann", 60, ["slack"])
    await world.plan(SAT - 90 * MINUTE)
    (old,) = await world.rows()
    later = SAT + 2 * HOUR  # Cat takes Ann's first two hours: Ann's shift starts at 11:00 Berlin time
    await world.give("cat", SAT + HOUR, SAT - 80 * MINUTE, start=SAT.isoformat(), end=later.isoformat())
    await world.send([old])
    assert (await reload(world.db, DeliveryLog, old.id)).error == GIVEN_AWAY
    now = SAT - 75 * MINUTE
    while now < later:
        await world.plan(now)
        now += 15 * MINUTE
    rows = await world.rows()
    assert [(r.shift_key, r.status, r.summary) for r in rows] == [
        (shift_key(schedule.id, ann.id, SAT), "skipped", text("09:00")),
        (shift_key(schedule.id, ann.id, later), "pending", text("11:00")),
    ]
    await world.send(rows)
    assert world.dms() == [(world.dm_channel("ann"), text("11:00"))]


async def test_a_shift_is_reminded_once_even_when_the_lead_changes_meanwhile(world: World) -> None:
    """ "Sent once per shift": Ann chose 1 h, the 1 h reminder is written, then she switches to 15 min
    before it is sent. She gets one reminder of that shift on Slack, not two."""
    await world.daily(["ann", "ben"])
    await world.remind("ann", 60, ["slack"])
    await world.plan(SAT - 90 * MINUTE)
    await world.remind("ann", 15, ["slack"])
    now = SAT - 80 * MINUTE
    while now < SAT:
        await world.plan(now)
        now += 5 * MINUTE
    await world.send(await world.rows())
    assert len(world.dms()) == 1, world.dms()


async def test_adding_a_channel_after_planning_reminds_on_both(world: World) -> None:
    """Ann chose 1 h by Slack; the reminder is written; then she adds SMS. The next planning writes
    both again: one DM and one SMS for the shift, the Slack one not lost nor doubled."""
    await world.daily(["ann", "ben"])
    await world.remind("ann", 60, ["slack"])
    await world.plan(SAT - 90 * MINUTE)
    await world.remind("ann", 60, ["slack", "sms"])
    await world.plan(SAT - 80 * MINUTE)
    await world.plan(SAT - 70 * MINUTE)
    await world.send(await world.rows())
    assert len(world.dms()) == 1, world.dms()
    assert len(world.texts()) == 1, world.texts()


async def test_no_reminder_after_turning_reminders_off(world: World) -> None:
    """Ann turns reminders off 70 minutes before her shift; the reminder written ahead 20 minutes
    earlier is not sent."""
    await world.daily(["ann", "ben"])
    await world.remind("ann", 60, ["slack", "sms"])
    await world.plan(SAT - 90 * MINUTE)
    response = await world.client.patch(ME, json={"reminder_minutes": 0}, headers=await world.auth("ann"))
    assert response.status_code == 200, response.text
    await world.send(await world.rows())
    assert world.dms() == [] and world.texts() == []


# ---------------------------------------------------------------- scaled leads


@pytest.mark.parametrize(
    ("scale", "lead", "due"),
    [
        # VIGILO_SECONDS_PER_DELAY_MINUTE=0.05 (the tests' usual scale): 15 minutes of lead last 0.75 s.
        (0.05, datetime.timedelta(seconds=0.75), datetime.datetime(2026, 10, 24, 6, 59, 59, 250000, tzinfo=UTC)),
        # 3 s a minute: 15 minutes last 45 s.
        (3.0, datetime.timedelta(seconds=45), datetime.datetime(2026, 10, 24, 6, 59, 15, tzinfo=UTC)),
    ],
)
async def test_a_scaled_lead_is_the_lead_times_the_scale(
    world: World, scale: float, lead: datetime.timedelta, due: datetime.datetime
) -> None:
    await world.daily(["ann", "ben"])
    await world.remind("ann", 15, ["slack"])
    second = datetime.timedelta(seconds=1)
    assert SAT - lead == due
    assert await world.plan(SAT - HOUR - lead - second, scale) == []  # the window: the scaled lead plus an hour
    planned = await world.plan(SAT - HOUR - lead + second, scale)
    (row,) = await world.rows()
    assert planned == [(row.id, due)]
    assert (row.retry_at, row.summary) == (due, text("09:00", lead="15 min"))  # the text keeps the chosen lead
    assert await world.plan(due - second, scale) == []

    sent: list[Outgoing] = []

    async def record(out: Outgoing) -> SendResult:
        sent.append(out)
        return SendResult(Outcome.SENT)

    early = await send_logged(world.db, row.id, record, due - second)
    assert early.done and sent == []  # a wake-up a second early sends nothing
    await send_logged(world.db, row.id, record, due)
    assert [(o.channel, o.target, o.text) for o in sent] == [
        ("slack", world.team["ann"].slack_user_id, text("09:00", lead="15 min"))
    ]
    assert (await reload(world.db, DeliveryLog, row.id)).status == "sent"


async def test_the_embedded_worker_plans_and_sends_a_scaled_reminder_on_time(
    integration_settings: Settings, db: AsyncSession, fake_slack: FakeServer
) -> None:
    """Real time, VIGILO_SECONDS_PER_DELAY_MINUTE=0.05: a shift starting 8 s from now and a 15-minute
    lead (0.75 s); one periodic tick plans it and the embedded worker sends it when due, not before."""
    scale = 0.05
    settings = replace(integration_settings, seconds_per_delay_minute=scale)
    team = await make_team(db, "acme", {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    await set_reminder_choice(db, team["ann"].id, 15, ["slack"])
    async with AsyncTestClient(app=create_app(settings)):
        real_now = datetime.datetime.now(UTC)
        start = (real_now + datetime.timedelta(seconds=8)).replace(microsecond=0)
        body = {
            "name": "Soon",
            "rotation": "daily",
            "timezone": "UTC",
            "handoff_time": (real_now + 6 * HOUR).strftime("%H:%M"),
            "starts_at": start.isoformat(),  # Ann's first shift starts right there
            "members": [team["ann"].email, team["ben"].email],
        }
        await create_schedule(db, team.workspace.id, body, real_now)
        await asyncio.to_thread(tick.send)  # the periodic tick the embedded worker runs (the test env sends none)
        due = start - datetime.timedelta(seconds=15 * scale)

        def reminded() -> list[Any]:
            return [c for c in fake_slack.calls("chat.postMessage") if "starts in 15 min" in str(c.params.get("text"))]

        for _ in range(600):  # at most ~30 s
            if reminded() or datetime.datetime.now(UTC) > due + datetime.timedelta(seconds=20):
                break
            await asyncio.sleep(0.05)
        calls = reminded()
        assert len(calls) == 1, [c.params for c in fake_slack.calls("chat.postMessage")]
        at = start.strftime("%H:%M") if start.date() == real_now.date() else start.strftime("%a %d %b %H:%M")
        assert calls[0].params["text"] == text(at, zone="UTC", lead="15 min", name="Soon")
        assert due.timestamp() - 0.5 <= calls[0].at <= due.timestamp() + 5, calls[0].at - due.timestamp()
    session = await fresh(db)
    (row,) = await session.scalars(select(DeliveryLog).where(DeliveryLog.shift_key.is_not(None)))
    assert (row.status, row.target) == ("sent", team["ann"].slack_user_id)


# ---------------------------------------------------------------- who is not reminded


async def test_no_verified_phone_skips_the_sms_once_saying_why(world: World) -> None:
    await world.daily(["ann", "ben"])
    async with writing(world.db):
        user = await world.db.get_one(UserProfile, world.team["ann"].id)
        user.phone_verified_at = None  # the number is there, but not verified
    await world.remind("ann", 60, ["slack", "sms"])
    planned = await world.plan(SAT - 90 * MINUTE)
    for now in (SAT - 80 * MINUTE, SAT - 70 * MINUTE, SAT - HOUR, SAT - 5 * MINUTE):
        assert await world.plan(now) == []
    slack, sms = await world.rows()
    assert (slack.channel, slack.status, slack.error) == ("slack", "pending", None)
    assert (sms.channel, sms.status, sms.target) == ("sms", "skipped", "")
    assert sms.error == "Ann has no verified phone number for reminders"
    assert planned == [(slack.id, SAT - HOUR)]  # only the row to send is woken
    await world.send([slack, sms])
    assert world.texts() == [] and len(world.dms()) == 1
    assert [r.status for r in await world.rows()] == ["sent", "skipped"]


async def membership_id(db: AsyncSession, team: Team, key: str) -> uuid.UUID:
    found = await db.scalar(
        select(Membership.id).where(Membership.workspace_id == team.workspace.id, Membership.user_id == team[key].id)
    )
    assert found is not None
    return found


async def test_viewers_and_deactivated_people_get_no_reminders(world: World) -> None:
    await world.daily(["ann", "ben"])  # Ann: Sat 24 Oct 07:00 UTC to Sun 08:00 UTC
    team = world.team
    # Cat and Dan take the first six hours of Ann's Saturday, then Cat becomes a viewer and Dan leaves;
    # the overrides stay theirs (re-laying the rotation never touches an override).
    made = SAT - 3 * HOUR
    await world.give("cat", SAT + HOUR, made, start=SAT.isoformat(), end=(SAT + 3 * HOUR).isoformat())
    await world.give("dan", SAT + 4 * HOUR, made, start=(SAT + 3 * HOUR).isoformat(), end=(SAT + 6 * HOUR).isoformat())
    for key in ("ann", "cat", "dan", "vic"):
        await world.remind(key, 60, ["slack", "sms"])
    await change_member(world.db, world.access(), await membership_id(world.db, team, "cat"), "viewer", True, made)
    await change_member(world.db, world.access(), await membership_id(world.db, team, "dan"), "member", False, made)
    holders = [await world.holder(at) for at in (SAT, SAT + 3 * HOUR, SAT + 6 * HOUR)]
    assert holders == [team["cat"].id, team["dan"].id, team["ann"].id]

    now = SAT - 2 * HOUR
    while now <= SAT + 6 * HOUR:
        await world.plan(now)
        now += 30 * MINUTE
    rows = await world.rows()
    assert [(r.target, r.retry_at) for r in rows] == [
        (team["ann"].slack_user_id, SAT + 5 * HOUR),
        (team["ann"].phone, SAT + 5 * HOUR),
    ]  # Ann's own shift, from 15:00 Berlin time; nothing for Cat, Dan or Vic


# ---------------------------------------------------------------- rows swept like every message


async def test_a_reminder_whose_wake_up_was_lost_is_swept_and_sent_not_dropped(world: World) -> None:
    """DESIGN.md invariant 9: a lost wake-up delays a message, nothing drops it. A reminder row is
    written up to an hour before it falls due; when its delayed message is lost (a restarted
    embedded worker, a flushed Redis), the sweeper must send it, a grace after it fell due."""
    await world.daily(["ann", "ben"])
    await world.remind("ann", 60, ["slack"])
    first_tick = SAT - 2 * HOUR + datetime.timedelta(seconds=10)  # the first run that sees the shift
    planned = await world.plan(first_tick)
    (row,) = await world.rows()
    assert planned == [(row.id, SAT - HOUR)]
    grace = datetime.timedelta(seconds=30)  # 2 ticks of 15 s, as the periodic sweep uses
    assert await sweep_stalled(world.db, SAT - HOUR, grace, datetime.timedelta(seconds=35)) == []
    swept = await sweep_stalled(world.db, SAT - HOUR + grace, grace, datetime.timedelta(seconds=35))
    after = await reload(world.db, DeliveryLog, row.id)
    assert (swept, after.status, after.error) == ([row.id], "pending", None)


# ---------------------------------------------------------------- a schedule paused meanwhile


async def test_no_reminder_for_a_shift_of_a_schedule_paused_after_planning(world: World) -> None:
    """Planning reads active schedules only; a schedule deactivated between planning and sending has
    no shifts any more, so its reminder ("You are on call then") is not sent."""
    schedule = await world.daily(["ann", "ben"])
    await world.remind("ann", 60, ["slack"])
    await world.plan(SAT - 90 * MINUTE)
    (row,) = await world.rows()
    await set_active(world.db, world.team.workspace.id, schedule.id, False, SAT - 80 * MINUTE)
    assert await world.plan(SAT - 70 * MINUTE) == []
    await world.send([row])
    assert world.dms() == []
    assert (await reload(world.db, DeliveryLog, row.id)).status == "skipped"
