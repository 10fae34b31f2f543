"""Handing work to the background, after the transaction that caused it committed: one typed
function per job, no job named by a string anywhere else.

Every job acts on a row that is already in the database (a delivery, a page's deadline, an inbound
event), so the message is only a wake-up: when it cannot be sent (no broker in this process, Redis
down), the row waits and the periodic sweepers pick it up. app/tasks/registry.py installs the
sender at start-up; services never import the broker, and no request makes an outbound call itself.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections.abc import Callable, Iterable
from enum import StrEnum

logger = logging.getLogger(__name__)


class Job(StrEnum):
    """The actors services wake (their Dramatiq names)."""

    DELIVER = "notifications.deliver"
    DELIVER_PAGE = "notifications.deliver_page"
    ESCALATE = "paging.escalate"
    SLACK_EVENT = "webhooks.slack_event"
    SMS_EVENT = "webhooks.sms_event"
    VOICE_EVENT = "webhooks.voice_event"
    PAGERDUTY_EVENT = "webhooks.pagerduty_event"


JobSender = Callable[[Job, str, int | None], None]
_sender: list[JobSender] = []


def install(sender: JobSender) -> None:
    """Install the function that enqueues a job (app/tasks/registry.py does this)."""
    _sender[:] = [sender]


async def _wake(job: Job, row_id: uuid.UUID, delay_ms: int | None = None) -> None:
    if not _sender:
        # A change made with no broker (the CLI, seeding): the row is committed; a worker's sweep sends it.
        logger.debug("no broker in this process; %s %s waits for the sweeper", job.value, row_id)
        return
    # Sending to Redis is blocking I/O. When Redis is down the change still stands: the database holds
    # what is due, and the sweepers act on rows whose wake-up never made it.
    try:
        await asyncio.to_thread(_sender[0], job, str(row_id), delay_ms)
    except Exception:
        logger.exception("could not enqueue %s %s; the periodic sweep will pick it up", job.value, row_id)


async def deliver(log_ids: Iterable[uuid.UUID]) -> None:
    """Send these pending delivery rows."""
    for log_id in log_ids:
        await _wake(Job.DELIVER, log_id)


async def deliver_page(log_ids: Iterable[uuid.UUID]) -> None:
    """Send these pending rows of a page, ahead of every other message."""
    for log_id in log_ids:
        await _wake(Job.DELIVER_PAGE, log_id)


def _delay_until(at: datetime.datetime) -> int:
    # Measured when the message is sent (after the commit), so the time the transaction took does
    # not make the wake-up late.
    return max(0, int((at - datetime.datetime.now(datetime.UTC)).total_seconds() * 1000))


async def deliver_at(log_id: uuid.UUID, at: datetime.datetime, *, page: bool = False) -> None:
    """Send this delivery row at `at` (a call that comes some minutes after the text; a page's own
    message when `page`: then ahead of every other message)."""
    await _wake(Job.DELIVER_PAGE if page else Job.DELIVER, log_id, _delay_until(at))


async def escalate_at(incident_id: uuid.UUID, at: datetime.datetime) -> None:
    """Wake the incident's chain at its current step's deadline."""
    await _wake(Job.ESCALATE, incident_id, _delay_until(at))


async def handle_slack_event(row_id: uuid.UUID) -> None:
    """Act on a recorded Slack event."""
    await _wake(Job.SLACK_EVENT, row_id)


async def handle_pagerduty_event(row_id: uuid.UUID) -> None:
    """Act on a recorded PagerDuty webhook."""
    await _wake(Job.PAGERDUTY_EVENT, row_id)
