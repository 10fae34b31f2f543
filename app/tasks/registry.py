"""Every actor module, so a broker made later (tests, embedded mode) can take all of them."""

from __future__ import annotations

from typing import Any

import dramatiq

from app.services.events import set_event_sender
from app.tasks import maintenance, notifications, periodic

ACTORS: tuple[dramatiq.Actor, ...] = (  # type: ignore[type-arg]
    maintenance.purge_expired,
    periodic.tick,
    notifications.deliver_event,
    notifications.send_dm,
)


def bind_actors(broker: dramatiq.Broker) -> None:
    """Declare every actor on `broker` (an actor binds at import to whatever broker was current),
    and let services hand their events to it."""
    for actor in ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
    set_event_sender(_send_event)


def _send_event(name: str, payload: dict[str, Any]) -> None:
    notifications.deliver_event.send(name, payload)
