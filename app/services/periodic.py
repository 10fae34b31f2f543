"""Periodic jobs: each runs once per interval however many processes tick, by claiming its lease row."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import PeriodicLease
from app.db.transactions import writing

# The job that runs on every tick: its lease's last run is when the tick last ran anywhere.
TICK_JOB = "paging.sweep_overdue"


async def claim(db: AsyncSession, name: str, interval: datetime.timedelta, now: datetime.datetime) -> bool:
    """True for exactly one caller per `interval`: it moved the job's last run to `now`."""
    async with writing(db):
        result = await db.execute(
            update(PeriodicLease)
            .where(PeriodicLease.name == name, PeriodicLease.last_run_at <= now - interval)
            .values(last_run_at=now)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return True
        if await db.scalar(select(PeriodicLease.id).where(PeriodicLease.name == name)) is not None:
            return False
        # First run of this job anywhere; the write lock (IMMEDIATE / unique name) lets one insert win.
        db.add(PeriodicLease(id=uuid.uuid4(), name=name, last_run_at=now))
        await db.flush()
        return True
