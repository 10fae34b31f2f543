"""Handing work to the background after the transaction that caused it committed.

Services name the actor ("paging.escalate") and its arguments; the task layer plugs in the sender at
start-up (it enqueues a Dramatiq message). So no service imports the broker, and no request makes an
outbound HTTP call itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from app.domain.overrides import Event

logger = logging.getLogger(__name__)
JobSender = Callable[[str, tuple[Any, ...], int | None], None]
_sender: list[JobSender] = []


def set_job_sender(sender: JobSender) -> None:
    """Install the function that enqueues a job (app/tasks/registry.py does this)."""
    _sender[:] = [sender]


async def enqueue(actor_name: str, *args: Any, delay_ms: int | None = None) -> None:
    """Enqueue one job; call only after the change it acts on has committed."""
    if not _sender:
        logger.warning("no job sender configured; dropped %s", actor_name)
        return
    # Sending to Redis is blocking I/O. When Redis is down the change still stands: the database holds
    # what is due, and the sweepers send pages and messages whose wake-up never made it.
    try:
        await asyncio.to_thread(_sender[0], actor_name, args, delay_ms)
    except Exception:
        logger.exception("could not enqueue %s; the periodic sweep will pick it up", actor_name)


async def dispatch_event(name: str, payload: dict[str, Any]) -> None:
    """Announce an on-call event (DMs to the people it concerns)."""
    await enqueue("notifications.deliver_event", name, payload)


async def dispatch_all(events: Sequence[Event]) -> None:
    for event in events:
        await dispatch_event(event.name, event.payload)
