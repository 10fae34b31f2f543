"""The actor that sends what the delivery log queued: DMs about on-call changes, verification codes,
incident pages and posts, and the reactions on an incident's post.

It takes an id, locks the row and re-checks it, so running it twice sends nothing twice.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Awaitable, Callable, Iterable

import dramatiq
from sqlalchemy.exc import SQLAlchemyError

from app.domain.pagerduty import OutboundEvent
from app.integrations.pagerduty import send_event
from app.integrations.slack import Outcome, SendResult, SlackAdapter
from app.integrations.twilio_sms import VOICE_ANSWER_PATH, SmsAdapter
from app.services import jobs
from app.services.contact_points import fill_code
from app.services.deliveries import Outgoing, parse_reaction_target, send_logged
from app.services.incidents import thread_of
from app.services.pagerduty import CANNOT_DECRYPT, sealed_routing_key
from app.services.paging import Pace, page_instead
from app.services.sealed import unseal
from app.tasks.context import task_session, task_settings


# Retried when it raises (the database went away): the row's status makes a rerun send nothing twice.
# Below escalations in priority (Dramatiq runs lower numbers first): a backlog of messages never
# delays the next step of a chain.
@dramatiq.actor(
    actor_name="notifications.deliver",
    queue_name="notifications",
    priority=10,
    max_retries=5,
    min_backoff=200,
    max_backoff=5_000,
)
async def deliver(log_id: str) -> None:
    """Send one logged message; retry only a provable failure."""
    await _deliver(log_id, deliver, jobs.deliver)


# A page's own messages (its SMS, call, DM and channel post, a PagerDuty trigger) have a queue of
# their own, which workers read beside the others and run before every other message: a backlog of
# reactions, posts and DMs never stands between an incident and the person it pages. Escalations
# still come first (priority 0): with pages at 0 too, a burst of 300 pages to slow providers made
# the next steps of chains 7-11 s late in the bench. Each message goes out on its own worker
# thread, so a page's SMS and channel post leave in parallel.
@dramatiq.actor(
    actor_name="notifications.deliver_page",
    queue_name="pages",
    priority=5,
    max_retries=5,
    min_backoff=200,
    max_backoff=5_000,
)
async def deliver_page(log_id: str) -> None:
    """Send one logged message of a page, ahead of every other message."""
    await _deliver(log_id, deliver_page, jobs.deliver_page)


async def _deliver(
    log_id: str,
    again: dramatiq.Actor,  # type: ignore[type-arg]
    follow: Callable[[Iterable[uuid.UUID]], Awaitable[None]],
) -> None:
    """Send the row; a retry comes back through `again`, what it leads to (the ack and decline
    reactions on a page's post) through `follow` — a page's through the pages queue."""
    settings = task_settings()
    slack, sms = SlackAdapter(settings), SmsAdapter(settings)

    async def send(out: Outgoing) -> SendResult:
        text = fill_code(out, settings.secret_key)
        if out.channel == "sms":
            return await asyncio.to_thread(sms.send, out.target, text)
        if out.channel == "voice":
            # The key pressed comes back to this call's own URL (signed by Twilio like every webhook).
            answer_url = f"{settings.public_url}{VOICE_ANSWER_PATH}{out.id}"
            return await asyncio.to_thread(sms.call, out.target, tuple(text.split("\n")), answer_url)
        if out.channel == "pagerduty":
            return await _send_pagerduty(out)
        if out.channel == "slack_reaction":
            channel, ts = parse_reaction_target(out.target)
            return await asyncio.to_thread(slack.add_reaction, channel, ts, text)
        if out.channel == "slack_post":
            try:
                async with task_session() as db:
                    thread = await thread_of(db, out.incident_id)
            except SQLAlchemyError as exc:  # nothing reached Slack: provably not sent, so it may be retried
                return SendResult(Outcome.TEMPORARY, f"could not read the incident's thread ({type(exc).__name__})")
            return await asyncio.to_thread(slack.post, out.target, text, thread)
        return await asyncio.to_thread(slack.direct_message, out.target, text)

    async def _send_pagerduty(out: Outgoing) -> SendResult:
        try:
            async with task_session() as db:
                sealed, label = await sealed_routing_key(db, uuid.UUID(out.target))
        except (SQLAlchemyError, ValueError) as exc:  # nothing reached PagerDuty: may be retried
            return SendResult(Outcome.TEMPORARY, f"could not read the connection ({type(exc).__name__})")
        if sealed is None:
            return SendResult(Outcome.PERMANENT, label)
        routing_key = unseal(settings.secret_key, sealed)
        if routing_key is None:
            return SendResult(Outcome.PERMANENT, f"{label}: {CANNOT_DECRYPT}")
        event = OutboundEvent.from_json(out.text)
        return await asyncio.to_thread(
            send_event, settings.pagerduty_events_url, routing_key, event, settings.send_timeout_seconds
        )

    now = datetime.datetime.now(datetime.UTC)
    async with task_session() as db:
        call_retry = datetime.timedelta(seconds=60 * settings.seconds_per_delay_minute)
        attempt = await send_logged(db, uuid.UUID(log_id), send, now, call_retry)
    await follow(attempt.follow_up)
    refused = attempt.result is not None and attempt.result.outcome is Outcome.PERMANENT
    if refused and attempt.outgoing is not None and attempt.outgoing.channel == "pagerduty":
        # A step's trigger PagerDuty did not take: page through Vigilo instead while the step runs.
        pace = Pace(settings.seconds_per_delay_minute, settings.public_url, settings.secret_key)
        async with task_session() as db:
            await page_instead(db, uuid.UUID(log_id), datetime.datetime.now(datetime.UTC), pace)
    if not attempt.done and attempt.retry_in is not None:
        await asyncio.to_thread(again.send_with_options, args=(log_id,), delay=int(attempt.retry_in * 1000))
