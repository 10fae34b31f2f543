"""The embedded mode's worker ticks by itself and keeps every active rotation 8 weeks ahead."""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import replace

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Environment, Settings
from app.db.models import OnCallSlot
from app.domain.roles import Role
from app.main import create_app
from app.services.schedules import create_schedule
from tests.factories import make_team
from tests.invariants import schedule_problems


async def test_the_tick_extends_a_rotation_that_fell_behind(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    real_now = datetime.datetime.now(datetime.UTC)
    two_weeks_ago = real_now - datetime.timedelta(weeks=2)
    body = {
        "name": "Daily",
        "rotation": "daily",
        "timezone": "America/New_York",
        "handoff_time": "09:00",
        "members": [team["ann"].email, team["ben"].email],
    }
    schedule = await create_schedule(db, team.workspace.id, body, two_weeks_ago)
    horizon = real_now + datetime.timedelta(weeks=8)
    await db.commit()
    assert await db.scalar(select(func.max(OnCallSlot.end_time))) < horizon

    development = replace(settings, env=Environment.DEVELOPMENT)  # the tick runs outside tests' own clock
    async with AsyncTestClient(app=create_app(development)):
        for _ in range(100):
            await db.commit()
            if await db.scalar(select(func.max(OnCallSlot.end_time))) >= horizon:
                break
            await asyncio.sleep(0.1)
    await db.commit()
    assert await db.scalar(select(func.max(OnCallSlot.end_time))) >= horizon
    assert await schedule_problems(db, schedule.id, real_now) == []
