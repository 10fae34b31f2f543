"""Escalation: a delayed message wakes the page at its deadline; the database decides what happens."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import dramatiq

from app.services.incidents import escalate_page
from app.tasks.context import task_session, task_settings


@dramatiq.actor(actor_name="paging.escalate", queue_name="paging", max_retries=5, min_backoff=500, max_backoff=10_000)
async def escalate(page_id: str) -> None:
    """Lock the page, re-check it, and escalate once; a wake-up that came early goes back to sleep."""
    settings = task_settings()
    now = datetime.datetime.now(datetime.UTC)
    async with task_session() as db:
        early = await escalate_page(db, uuid.UUID(page_id), now, settings.seconds_per_delay_minute, settings.public_url)
    if early is not None:
        delay_ms = max(1, int((early - now).total_seconds() * 1000))
        await asyncio.to_thread(escalate.send_with_options, args=(page_id,), delay=delay_ms)
