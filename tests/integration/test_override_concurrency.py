"""Overrides, hand-offs and swaps racing the extender and a regeneration on one schedule: afterwards
no overlap, no gap the rotation would cover, and every override that was confirmed is still there."""

from __future__ import annotations

import asyncio
import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.engine import create_engine
from app.db.models import OnCallSlot
from app.domain.roles import Role
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.overrides import decide_swap, edit_slot, hand_off, propose_swap
from app.services.schedules import create_schedule, extend_all, regenerate_schedule, slots_between
from tests.factories import fresh, make_team
from tests.invariants import schedule_problems

PEOPLE = ("a", "b", "c", "d")


async def test_everyday_edits_race_safely(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, roles={"owner": Role.OWNER, **dict.fromkeys(PEOPLE, Role.MEMBER)})
    now = datetime.datetime.now(datetime.UTC)
    body = {
        "name": "Busy",
        "rotation": "daily",
        "timezone": "Europe/Berlin",
        "handoff_time": "08:00",
        "starts_at": (now - datetime.timedelta(days=1)).isoformat(),
        "members": [team[k].email for k in PEOPLE],
    }
    schedule = await create_schedule(db, team.workspace.id, body, now)
    rows = await slots_between(db, schedule.id, now + datetime.timedelta(days=1), now + datetime.timedelta(days=20))
    future = [slot for slot, _ in rows if slot.start_time > now]
    admin = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
    members = {k: WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team[k]), Role.MEMBER) for k in PEOPLE}
    key_of = {team[k].id: k for k in PEOPLE}
    swap_a, swap_b = future[12], future[13]
    swap = await propose_swap(db, members[key_of[swap_a.user_id]], str(swap_a.id), str(swap_b.id), now)
    swap_id, swap_target = str(swap.id), key_of[swap_b.user_id]

    engine = create_engine(settings.database_url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    confirmed: list[tuple[object, datetime.datetime, datetime.datetime]] = []

    async def override(index: int) -> None:
        slot = future[index]
        taker = team[PEOPLE[(PEOPLE.index(key_of[slot.user_id]) + 1) % len(PEOPLE)]]
        async with maker() as session:
            await edit_slot(session, admin, slot.id, {"user": taker.email}, now)
        confirmed.append((taker.id, slot.start_time, slot.end_time))

    async def handoff(index: int) -> None:
        slot = future[index]
        at = slot.start_time + datetime.timedelta(hours=3)
        taker = team[PEOPLE[(PEOPLE.index(key_of[slot.user_id]) + 2) % len(PEOPLE)]]
        async with maker() as session:
            await hand_off(session, admin, schedule.id, taker.email, at, now)
        confirmed.append((taker.id, at, slot.end_time))

    async def accept_swap() -> None:
        async with maker() as session:
            await decide_swap(session, members[swap_target], swap_id, True, now)
        confirmed.append((swap_b.user_id, swap_a.start_time, swap_a.end_time))
        confirmed.append((swap_a.user_id, swap_b.start_time, swap_b.end_time))

    async def extender() -> None:
        async with maker() as session:
            await extend_all(session, now + datetime.timedelta(days=1), slack=datetime.timedelta(0))

    async def regenerate() -> None:
        async with maker() as session:
            await regenerate_schedule(session, team.workspace.id, schedule.id, None, now)

    jobs = [override(i) for i in range(6)] + [handoff(i) for i in range(6, 12)] + [accept_swap()]
    jobs += [extender(), regenerate(), extender(), regenerate()]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    await engine.dispose()
    assert [r for r in results if isinstance(r, BaseException)] == []

    session = await fresh(db)
    overrides = {
        (s.user_id, s.start_time, s.end_time)
        for s in await session.scalars(
            select(OnCallSlot).where(OnCallSlot.schedule_id == schedule.id, OnCallSlot.is_override)
        )
    }
    assert set(confirmed) <= overrides
    assert len(confirmed) == 14
    assert await schedule_problems(session, schedule.id, now, check_pattern_from=now) == []
