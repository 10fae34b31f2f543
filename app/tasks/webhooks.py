"""Slack events are answered at once and handled here, so Slack never waits past its 3 seconds; SMS
replies whose web request never finished are handled here when the sweeper finds them."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import dramatiq

from app.integrations.slack import SlackAdapter
from app.services import jobs
from app.services.inbound import handle_slack_event, handle_stalled_sms, handle_voice
from app.tasks.context import task_session, task_settings


@dramatiq.actor(actor_name="webhooks.slack_event", queue_name="webhooks", max_retries=3)
async def slack_event(row_id: str) -> None:
    """Act on one logged Slack event (a reaction on an incident post); a second run finds it handled."""
    settings = task_settings()
    bot = await asyncio.to_thread(SlackAdapter(settings).bot_user_id)
    async with task_session() as db:
        await handle_slack_event(
            db,
            uuid.UUID(row_id),
            bot,
            datetime.datetime.now(datetime.UTC),
            settings.seconds_per_delay_minute,
            settings.public_url,
        )


@dramatiq.actor(actor_name="webhooks.sms_event", queue_name="webhooks", max_retries=3)
async def sms_event(row_id: str) -> None:
    """Handle an SMS reply the web request left without an outcome, and text the answer back."""
    settings = task_settings()
    async with task_session() as db:
        reply = await handle_stalled_sms(
            db,
            uuid.UUID(row_id),
            datetime.datetime.now(datetime.UTC),
            settings.seconds_per_delay_minute,
            settings.public_url,
        )
    if reply is not None:
        await jobs.deliver([reply])


@dramatiq.actor(actor_name="webhooks.voice_event", queue_name="webhooks", max_retries=3)
async def voice_event(row_id: str) -> None:
    """Act on a key pressed on a call whose web request left it without an outcome (the call has
    ended, so nothing is said back; the timeline says what it did)."""
    settings = task_settings()
    async with task_session() as db:
        await handle_voice(
            db,
            uuid.UUID(row_id),
            datetime.datetime.now(datetime.UTC),
            settings.seconds_per_delay_minute,
            settings.public_url,
        )
