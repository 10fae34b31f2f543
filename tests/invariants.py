"""One check of a schedule's slots, used by every test that changes them (DESIGN.md invariants 1-3)."""

from __future__ import annotations

import datetime
import itertools
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import OnCallSchedule, OnCallSlot
from app.domain.layering import Interval, subtract_overrides
from app.domain.rotation import Rotation, shifts_between
from app.services.schedules import cadence_of, covered_until, rotation_members


async def schedule_problems(
    db: AsyncSession,
    schedule_id: uuid.UUID,
    now: datetime.datetime,
    check_pattern_from: datetime.datetime | None = None,
) -> list[str]:
    """Everything wrong with the schedule's slots: overlaps, gaps inside its coverage, and (from
    `check_pattern_from` on) rotation slots that differ from the pattern minus the overrides."""
    await db.commit()
    schedule = await db.get(OnCallSchedule, schedule_id, populate_existing=True)
    assert schedule is not None
    slots = list(
        await db.scalars(
            select(OnCallSlot)
            .where(OnCallSlot.schedule_id == schedule_id)
            .order_by(OnCallSlot.start_time)
            .execution_options(populate_existing=True)
        )
    )
    problems: list[str] = []
    for before, after in itertools.pairwise(slots):
        if after.start_time < before.end_time:
            problems.append(f"overlap: {before.start_time}-{before.end_time} and {after.start_time}-{after.end_time}")
        elif after.start_time > before.end_time:
            problems.append(f"gap: {before.end_time} to {after.start_time}")
    if schedule.is_active and slots and slots[-1].end_time < now + datetime.timedelta(weeks=schedule.horizon_weeks):
        problems.append(f"coverage ends at {slots[-1].end_time}, before the horizon")
    if check_pattern_from is not None:
        members = await rotation_members(db, schedule)
        rotation = Rotation(cadence_of(schedule), ZoneInfo(schedule.time_zone), schedule.rotation_start, tuple(members))
        until = covered_until(rotation, now + datetime.timedelta(weeks=schedule.horizon_weeks))
        if slots:  # a tick with a later clock may already have laid more; compare all of it
            until = max(until, slots[-1].end_time)
        overrides = [Interval(s.user_id, s.start_time, s.end_time) for s in slots if s.is_override]
        expected = [
            (i.member, max(i.start, check_pattern_from), i.end)
            for i in subtract_overrides(shifts_between(rotation, check_pattern_from, until), overrides)
        ]
        actual = [
            (s.user_id, max(s.start_time, check_pattern_from), s.end_time)
            for s in slots
            if not s.is_override and s.end_time > check_pattern_from
        ]
        if expected != actual:
            problems.append(f"rotation slots differ from the pattern: expected {len(expected)}, found {len(actual)}")
    return problems
