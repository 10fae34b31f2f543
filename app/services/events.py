"""Handing domain events to the background after the transaction that caused them committed.

Services call `dispatch_event`; the task layer plugs in the sender at start-up (it enqueues a
Dramatiq message), so no service imports the broker and no request makes an outbound HTTP call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from app.domain.overrides import Event

logger = logging.getLogger(__name__)
EventSender = Callable[[str, dict[str, Any]], None]
_sender: list[EventSender] = []


def set_event_sender(sender: EventSender) -> None:
    """Install the function that enqueues an event (app/tasks/broker.py does this)."""
    _sender[:] = [sender]


async def dispatch_event(name: str, payload: dict[str, Any]) -> None:
    """Enqueue one event; call only after the change it describes has committed."""
    if not _sender:
        logger.warning("no event sender configured; dropped %s", name)
        return
    # Sending to Redis is blocking I/O.
    await asyncio.to_thread(_sender[0], name, payload)


async def dispatch_all(events: Sequence[Event]) -> None:
    for event in events:
        await dispatch_event(event.name, event.payload)
