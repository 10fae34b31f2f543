"""Housekeeping actors."""

from __future__ import annotations

import datetime

import dramatiq

from app.services.housekeeping import purge_expired_rows
from app.tasks.context import task_session


@dramatiq.actor(actor_name="maintenance.purge_expired", queue_name="maintenance", max_retries=0)
async def purge_expired() -> None:
    """Delete expired browser sessions and login failures past the throttle window."""
    async with task_session() as db:
        await purge_expired_rows(db, datetime.datetime.now(datetime.UTC))
