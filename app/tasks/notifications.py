"""Actors that tell people about on-call changes (Slack DMs). They take ids and are safe to run twice."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any

import dramatiq

from app.integrations.slack import SendResult, SlackAdapter
from app.services.notifications import queue_event_messages, send_logged_dm
from app.tasks.context import task_session, task_settings


@dramatiq.actor(actor_name="notifications.deliver_event", queue_name="notifications", max_retries=3)
async def deliver_event(name: str, payload: dict[str, Any]) -> None:
    """Expand an event into one delivery row per recipient, then send each on its own."""
    async with task_session() as db:
        pending = await queue_event_messages(db, name, payload, datetime.datetime.now(datetime.UTC))
    for log_id in pending:
        await asyncio.to_thread(send_dm.send, str(log_id))


@dramatiq.actor(actor_name="notifications.send_dm", queue_name="notifications", max_retries=0)
async def send_dm(log_id: str) -> None:
    """Send one logged DM; a provable failure is retried later, a timeout is never resent."""
    slack = SlackAdapter(task_settings())

    async def send(target: str, text: str) -> SendResult:
        return await asyncio.to_thread(slack.direct_message, target, text)

    async with task_session() as db:
        attempt = await send_logged_dm(db, uuid.UUID(log_id), send, datetime.datetime.now(datetime.UTC))
    if not attempt.done and attempt.retry_in is not None:
        delay_ms = int(attempt.retry_in * 1000)
        await asyncio.to_thread(send_dm.send_with_options, args=(log_id,), delay=delay_ms)
