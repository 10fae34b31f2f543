"""Concurrent changes to one schedule serialise on its lock: no overlap, no gap, pattern intact."""

from __future__ import annotations

import asyncio
import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.engine import create_engine
from app.domain.roles import Role
from app.services.schedules import create_schedule, extend_schedule, regenerate_schedule, update_schedule
from tests.factories import make_team
from tests.invariants import schedule_problems

NOW = datetime.datetime(2026, 10, 20, 12, 0, tzinfo=datetime.UTC)


async def test_edits_regenerations_and_extends_race_safely(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, roles={"owner": Role.OWNER, "a": Role.MEMBER, "b": Role.MEMBER, "c": Role.MEMBER})
    body = {
        "name": "Racy",
        "rotation": "custom",
        "shift_hours": 12,
        "timezone": "Europe/Berlin",
        "handoff_time": "08:00",
        "starts_at": "2026-10-18T08:00:00+02:00",
        "members": [team["a"].email, team["b"].email, team["c"].email],
    }
    schedule = await create_schedule(db, team.workspace.id, body, NOW)
    engine = create_engine(settings.database_url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    orders = [["a", "b", "c"], ["c", "a"], ["b"], ["a", "c", "b"]]

    async def worker(index: int) -> None:
        async with maker() as session:
            later = NOW + datetime.timedelta(hours=index)
            if index % 3 == 0:
                members = [team[key].email for key in orders[index % len(orders)]]
                await update_schedule(session, team.workspace.id, schedule.id, {"members": members}, later)
            elif index % 3 == 1:
                await regenerate_schedule(session, team.workspace.id, schedule.id, None, later)
            else:
                await extend_schedule(session, team.workspace.id, schedule.id, later)

    await asyncio.gather(*(worker(i) for i in range(12)))
    await engine.dispose()
    assert await schedule_problems(db, schedule.id, NOW + datetime.timedelta(hours=11)) == []
