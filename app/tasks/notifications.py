"""Actors that send what the delivery log queued: DMs about on-call changes, and incident pages.

They take ids, lock the row and re-check it, so running one twice sends nothing twice.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from typing import Any

import dramatiq
from sqlalchemy.exc import SQLAlchemyError

from app.integrations.slack import Outcome, SendResult, SlackAdapter
from app.integrations.twilio_sms import SmsAdapter
from app.services.contact_points import fill_code
from app.services.deliveries import Outgoing, send_logged
from app.services.incidents import after_incident_post, log_reaction, thread_of
from app.services.notifications import queue_event_messages
from app.tasks.context import task_session, task_settings

logger = logging.getLogger(__name__)


@dramatiq.actor(actor_name="notifications.deliver_event", queue_name="notifications", max_retries=3)
async def deliver_event(name: str, payload: dict[str, Any]) -> None:
    """Expand an on-call event into one delivery row per recipient, then send each on its own."""
    async with task_session() as db:
        pending = await queue_event_messages(db, name, payload, datetime.datetime.now(datetime.UTC))
    for log_id in pending:
        try:
            await asyncio.to_thread(deliver.send, str(log_id))
        except Exception:  # the rows are committed: the sweeper sends them, so do not rerun and queue again
            logger.exception("could not enqueue delivery %s; the periodic sweep will send it", log_id)


# Retried when it raises (the database went away): the row's status makes a rerun send nothing twice.
@dramatiq.actor(
    actor_name="notifications.deliver", queue_name="notifications", max_retries=5, min_backoff=200, max_backoff=5_000
)
async def deliver(log_id: str) -> None:
    """Send one logged message (DM, incident-channel post or SMS); retry only a provable failure."""
    settings = task_settings()
    slack, sms = SlackAdapter(settings), SmsAdapter(settings)

    async def send(out: Outgoing) -> SendResult:
        text = fill_code(out, settings.secret_key)
        if out.channel == "sms":
            return await asyncio.to_thread(sms.send, out.target, text)
        if out.channel == "slack_post":
            try:
                async with task_session() as db:
                    thread = await thread_of(db, out.incident_id)
            except SQLAlchemyError as exc:  # nothing reached Slack: provably not sent, so it may be retried
                return SendResult(Outcome.TEMPORARY, f"could not read the incident's thread ({type(exc).__name__})")
            return await asyncio.to_thread(slack.post, out.target, text, thread)
        return await asyncio.to_thread(slack.direct_message, out.target, text)

    now = datetime.datetime.now(datetime.UTC)
    async with task_session() as db:
        attempt = await send_logged(db, uuid.UUID(log_id), send, now)
        result, out = attempt.result, attempt.outgoing
        if out is not None and result is not None and result.outcome is Outcome.SENT and out.channel == "slack_post":
            # The incident's first post gets the ack and decline reactions people click.
            react = await after_incident_post(db, out.incident_id, result.channel, result.ts, now)
            for name in react:
                outcome = await asyncio.to_thread(slack.add_reaction, result.channel or "", result.ts or "", name)
                await log_reaction(db, out.incident_id, name, outcome, now)
    if not attempt.done and attempt.retry_in is not None:
        await asyncio.to_thread(deliver.send_with_options, args=(log_id,), delay=int(attempt.retry_in * 1000))
