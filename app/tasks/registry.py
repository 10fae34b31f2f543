"""Every actor module, so a broker made later (tests, embedded mode) can take all of them."""

from __future__ import annotations

import dramatiq

from app.services.jobs import Job, install
from app.tasks import maintenance, notifications, paging, periodic, webhooks

ACTORS: tuple[dramatiq.Actor, ...] = (  # type: ignore[type-arg]
    maintenance.purge_expired,
    periodic.tick,
    notifications.deliver,
    notifications.deliver_page,
    paging.escalate,
    webhooks.slack_event,
    webhooks.sms_event,
    webhooks.voice_event,
    webhooks.pagerduty_event,
)


def bind_actors(broker: dramatiq.Broker) -> None:
    """Declare every actor on `broker` (an actor binds at import to whatever broker was current),
    and let services hand their events to it."""
    for actor in ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
    by_job = {Job(actor.actor_name): actor for actor in ACTORS if actor.actor_name in set(Job)}
    missing = set(Job) - set(by_job)
    assert not missing, f"no actor for {missing}"
    install(lambda job, row_id, delay: _send_job(by_job[job], row_id, delay))


def _send_job(actor: dramatiq.Actor, row_id: str, delay_ms: int | None) -> None:  # type: ignore[type-arg]
    actor.send_with_options(args=(row_id,), delay=delay_ms)
