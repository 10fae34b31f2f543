"""Slack events are answered at once and handled here, so Slack never waits past its 3 seconds; SMS
replies whose web request never finished are handled here when the sweeper finds them."""

from __future__ import annotations

import asyncio
import datetime
import re
import uuid

import dramatiq

from app.integrations.pagerduty import user_email
from app.integrations.slack import SlackAdapter
from app.services import jobs
from app.services.inbound import handle_slack_event, handle_stalled_sms, handle_voice
from app.services.pagerduty_inbound import handle_event, pending_event
from app.services.sealed import unseal
from app.tasks.context import task_session, task_settings

AGENT_ID = re.compile(r"[A-Z0-9]{1,32}")  # a PagerDuty user id goes into a URL path: nothing else may


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
            settings.secret_key,
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
            settings.secret_key,
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
            settings.secret_key,
        )


@dramatiq.actor(actor_name="webhooks.pagerduty_event", queue_name="webhooks", max_retries=3)
async def pagerduty_event(row_id: str) -> None:
    """Act on one recorded PagerDuty webhook; with a REST API key on the connection, its agent's email
    is looked up first (GET /users/{id}) so the ack is theirs. A lookup that fails acks all the same,
    naming PagerDuty's agent in the timeline."""
    settings = task_settings()
    async with task_session() as db:
        pending = await pending_event(db, uuid.UUID(row_id))
        if pending is None:
            return
        api_key = unseal(settings.secret_key, pending.api_key_sealed)
        email = None
        if pending.acts and api_key and pending.agent_id and AGENT_ID.fullmatch(pending.agent_id):
            email = await asyncio.to_thread(
                user_email, settings.pagerduty_api_url, api_key, pending.agent_id, settings.send_timeout_seconds
            )
        await handle_event(db, pending.row_id, email, datetime.datetime.now(datetime.UTC))
