"""Escalation: a delayed message wakes the incident at its step's deadline; the database decides.

Escalations have their own queue and the highest priority, so they never wait behind deliveries
(app/tasks/notifications.py runs at a lower priority on the `notifications` queue).
"""

from __future__ import annotations

import asyncio
import datetime
import uuid

import dramatiq

from app.services.paging import Pace, escalate_due
from app.tasks.context import task_session, task_settings

ESCALATION_PRIORITY = 0  # Dramatiq runs lower numbers first


@dramatiq.actor(
    actor_name="paging.escalate",
    queue_name="paging",
    priority=ESCALATION_PRIORITY,
    max_retries=5,
    min_backoff=500,
    max_backoff=10_000,
)
async def escalate(incident_id: str) -> None:
    """Lock the incident, re-check its chain, and move it on once; a wake-up that came early goes
    back to sleep."""
    settings = task_settings()
    now = datetime.datetime.now(datetime.UTC)
    pace = Pace(settings.seconds_per_delay_minute, settings.public_url, settings.secret_key)
    async with task_session() as db:
        early = await escalate_due(db, uuid.UUID(incident_id), now, pace)
    if early is not None:
        delay_ms = max(1, int((early - now).total_seconds() * 1000))
        await asyncio.to_thread(escalate.send_with_options, args=(incident_id,), delay=delay_ms)
