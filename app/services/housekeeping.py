"""Rows that outlive their use: expired sessions, old login failures, heartbeats of long-gone workers."""

from __future__ import annotations

import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import LoginFailure, WebSession, WorkerHeartbeat
from app.db.transactions import writing
from app.domain.login_throttle import WINDOW as THROTTLE_WINDOW

GONE_AFTER = datetime.timedelta(days=1)


async def purge_expired_rows(db: AsyncSession, now: datetime.datetime) -> int:
    """Delete expired sessions, login failures older than the throttle window and heartbeats of
    processes not seen for a day; returns the count."""
    async with writing(db):
        sessions = await db.execute(delete(WebSession).where(WebSession.expires_at < now))
        failures = await db.execute(delete(LoginFailure).where(LoginFailure.at < now - THROTTLE_WINDOW))
        gone = await db.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < now - GONE_AFTER))
    return sum(int(r.rowcount or 0) for r in (sessions, failures, gone))  # type: ignore[attr-defined,misc]
