"""Every actor module, so a broker made later (tests, embedded mode) can take all of them."""

from __future__ import annotations

import dramatiq

from app.tasks import maintenance, periodic

ACTORS: tuple[dramatiq.Actor, ...] = (maintenance.purge_expired, periodic.tick)  # type: ignore[type-arg]


def bind_actors(broker: dramatiq.Broker) -> None:
    """Declare every actor on `broker` (an actor binds at import to whatever broker was current)."""
    for actor in ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
