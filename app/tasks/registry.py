"""Every actor module, so a broker made later (tests, embedded mode) can take all of them."""

from __future__ import annotations

from typing import Any

import dramatiq

from app.services.events import set_job_sender
from app.tasks import maintenance, notifications, paging, periodic, webhooks

ACTORS: tuple[dramatiq.Actor, ...] = (  # type: ignore[type-arg]
    maintenance.purge_expired,
    periodic.tick,
    notifications.deliver_event,
    notifications.deliver,
    paging.escalate,
    webhooks.slack_event,
)


def bind_actors(broker: dramatiq.Broker) -> None:
    """Declare every actor on `broker` (an actor binds at import to whatever broker was current),
    and let services hand their events to it."""
    for actor in ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
    set_job_sender(lambda name, args, delay: _send_job(broker, name, args, delay))


def _send_job(broker: dramatiq.Broker, actor_name: str, args: tuple[Any, ...], delay_ms: int | None) -> None:
    broker.get_actor(actor_name).send_with_options(args=args, delay=delay_ms)
