"""Rows that outlive their use: expired sessions, old login failures."""

from __future__ import annotations

import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import LoginFailure, WebSession
from app.db.transactions import writing
from app.domain.login_throttle import WINDOW as THROTTLE_WINDOW


async def purge_expired_rows(db: AsyncSession, now: datetime.datetime) -> int:
    """Delete expired sessions and login failures older than the throttle window; returns the count."""
    async with writing(db):
        sessions = await db.execute(delete(WebSession).where(WebSession.expires_at < now))
        failures = await db.execute(delete(LoginFailure).where(LoginFailure.at < now - THROTTLE_WINDOW))
    return int(sessions.rowcount or 0) + int(failures.rowcount or 0)  # type: ignore[attr-defined]
