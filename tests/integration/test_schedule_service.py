"""Schedule operations on both databases: create, edit, extend, regenerate, deactivate people."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Membership, OnCallSlot
from app.domain.roles import Role
from app.services.errors import FieldError
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.memberships import change_member
from app.services.schedules import (
    create_schedule,
    extend_all,
    extend_schedule,
    regenerate_schedule,
    slot_at,
    slots_between,
    update_schedule,
)
from tests.factories import Team, make_team
from tests.invariants import schedule_problems

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime.datetime(2026, 3, 20, 10, 0, tzinfo=datetime.UTC)  # a Friday, 9 days before spring-forward

TEAM_ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "cat": Role.ADMIN, "vic": Role.VIEWER}


def weekly_body(team: Team, **extra: object) -> dict[str, object]:
    return {
        "name": "Platform",
        "rotation": "weekly",
        "timezone": "Europe/Berlin",
        "handoff_time": "09:00",
        "handoff_weekday": 0,
        "starts_at": "2026-03-16T09:00:00+01:00",
        "members": [team["ann"].email, team["ben"].email, team["cat"].email],
        "escalation_to": team["owner"].email,
        **extra,
    }


async def test_weekly_schedule_rotates_members_in_order_for_eight_weeks(db: AsyncSession) -> None:
    team = await make_team(db, roles=TEAM_ROLES)
    schedule = await create_schedule(db, team.workspace.id, weekly_body(team), NOW)
    rows = await slots_between(db, schedule.id, NOW - datetime.timedelta(days=30), NOW + datetime.timedelta(weeks=9))
    holders = [user.email for _, user in rows]
    assert holders[:4] == [team[k].email for k in ("ann", "ben", "cat", "ann")]
    starts = [slot.start_time.astimezone(BERLIN) for slot, _ in rows]
    assert all((s.weekday(), s.hour, s.minute) == (0, 9, 0) for s in starts)
    # The week of the spring-forward is an hour shorter; every hand-off stays at 09:00 local.
    assert rows[1][0].end_time - rows[1][0].start_time == datetime.timedelta(hours=167)
    assert rows[-1][0].end_time >= NOW + datetime.timedelta(weeks=8)
    assert await schedule_problems(db, schedule.id, NOW, check_pattern_from=NOW) == []


async def test_bad_definitions_name_each_field_and_write_nothing(db: AsyncSession) -> None:
    team = await make_team(db, roles=TEAM_ROLES)
    with pytest.raises(FieldError) as caught:
        await create_schedule(
            db,
            team.workspace.id,
            {
                "name": "",
                "rotation": "custom",
                "timezone": "Mars/Olympus",
                "handoff_time": "9am",
                "members": [],
                "escalation_delay_minutes": 0,
            },
            NOW,
        )
    assert set(caught.value.errors) == {
        "name",
        "timezone",
        "handoff_time",
        "shift_hours",
        "members",
        "escalation_delay_minutes",
    }
    with pytest.raises(FieldError) as people:
        await create_schedule(
            db, team.workspace.id, weekly_body(team, members=[team["vic"].email], escalation_to="nobody@x.test"), NOW
        )
    assert set(people.value.errors) == {"members", "escalation_to"}
    assert await db.scalar(select(func.count()).select_from(OnCallSlot)) == 0


async def test_extend_and_regenerate_are_idempotent(db: AsyncSession) -> None:
    team = await make_team(db, roles=TEAM_ROLES)
    schedule = await create_schedule(db, team.workspace.id, weekly_body(team), NOW)
    before = {(s.id, s.start_time, s.end_time) for s in await db.scalars(select(OnCallSlot))}
    assert await extend_schedule(db, team.workspace.id, schedule.id, NOW) == 0
    assert await regenerate_schedule(db, team.workspace.id, schedule.id, None, NOW) == 0
    await db.commit()
    after = {(s.id, s.start_time, s.end_time) for s in await db.scalars(select(OnCallSlot))}
    assert after == before
    # A week later the tick extends by one more week, touching nothing that exists.
    later = NOW + datetime.timedelta(weeks=1)
    assert await extend_all(db, later, slack=datetime.timedelta(0)) == 1
    await db.commit()
    assert before < {(s.id, s.start_time, s.end_time) for s in await db.scalars(select(OnCallSlot))}
    assert await schedule_problems(db, schedule.id, later, check_pattern_from=later) == []


async def test_regenerate_refuses_history(db: AsyncSession) -> None:
    team = await make_team(db, roles=TEAM_ROLES)
    schedule = await create_schedule(db, team.workspace.id, weekly_body(team), NOW)
    with pytest.raises(FieldError) as caught:
        await regenerate_schedule(db, team.workspace.id, schedule.id, "2026-03-16T07:00:00+00:00", NOW)
    assert "from" in caught.value.errors


async def test_member_change_takes_effect_at_the_next_boundary(db: AsyncSession) -> None:
    team = await make_team(db, roles=TEAM_ROLES)
    schedule = await create_schedule(db, team.workspace.id, weekly_body(team), NOW)
    current = await slot_at(db, schedule.id, NOW)
    assert current is not None
    await update_schedule(db, team.workspace.id, schedule.id, {"members": [team["cat"].email, team["ben"].email]}, NOW)
    still = await slot_at(db, schedule.id, NOW)
    assert still is not None
    assert (still.id, still.user_id) == (current.id, team["ann"].id)
    next_monday = datetime.datetime(2026, 3, 23, 8, 0, tzinfo=datetime.UTC)
    # Shift 1 keeps its number and goes to member 1 mod 2 of the new list.
    following = await slot_at(db, schedule.id, next_monday + datetime.timedelta(hours=1))
    assert following is not None
    assert following.user_id == team["ben"].id
    assert await schedule_problems(db, schedule.id, NOW, check_pattern_from=next_monday) == []


async def test_a_deactivated_member_is_skipped_from_the_next_boundary(db: AsyncSession) -> None:
    team = await make_team(db, roles=TEAM_ROLES)
    schedule = await create_schedule(db, team.workspace.id, weekly_body(team), NOW)
    ben = await db.scalar(select(Membership).where(Membership.user_id == team["ben"].id))
    assert ben is not None
    owner = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
    await change_member(db, owner, ben.id, "member", False, now=NOW)
    rows = await slots_between(db, schedule.id, NOW, NOW + datetime.timedelta(weeks=8))
    assert team["ben"].id not in {slot.user_id for slot, _ in rows}
    assert rows[0][0].user_id == team["ann"].id  # the current shift is not touched
    assert await schedule_problems(db, schedule.id, NOW) == []


async def test_daily_schedule_created_in_the_past_records_history_once(db: AsyncSession) -> None:
    team = await make_team(db, roles=TEAM_ROLES)
    body = weekly_body(team, rotation="daily", handoff_weekday=None, starts_at="2026-03-01T09:00:00+01:00")
    schedule = await create_schedule(db, team.workspace.id, body, NOW)
    first = await slot_at(db, schedule.id, datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC))
    assert first is not None
    assert first.user_id == team["ann"].id
    assert await schedule_problems(db, schedule.id, NOW) == []
