"""PagerDuty's v3 webhooks, once their signature held: recorded once per event id, then acted on
(an acknowledge or a resolve of the Vigilo incident whose id is the alert's key) in the transaction
that records the outcome, or handled again by the sweeper (invariant 10). What came from PagerDuty is
never sent back to it."""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, Incident, Membership, Page, PagerDutyService, UserProfile
from app.domain.acks import Source
from app.domain.pagerduty import WebhookEvent, WebhookKind
from app.services.acks import Inbound, acknowledge, acknowledge_as_agent
from app.services.inbound import finish_inbound
from app.services.incidents import close_incident
from app.services.schedules import SLOT_ROLES

CHANNEL = "pagerduty"


def event_key(service_id: uuid.UUID, event_id: str) -> str:
    """The inbound row's unique key: the event id, per connection (two workspaces may hear one event)."""
    key = event_id if len(event_id) <= 51 else hashlib.sha256(event_id.encode()).hexdigest()[:51]
    return f"{service_id.hex[:12]}:{key}"


def summary(service_id: uuid.UUID, event: WebhookEvent) -> str:
    """What an inbound row keeps: the connection and the facts acted on, not the whole body."""
    return json.dumps(
        {
            "service": str(service_id),
            "id": event.id,
            "kind": event.kind.value,
            "event_type": event.event_type,
            "incident_key": event.incident_key,
            "agent_id": event.agent_id,
            "agent": event.agent_summary,
            "pd_incident": event.pd_incident,
        }
    )


@dataclass(frozen=True)
class Pending:
    """A recorded event still without an outcome, and what is needed to look its agent up."""

    row_id: uuid.UUID
    service_id: uuid.UUID
    agent_id: str | None
    api_key_sealed: str | None
    acts: bool  # an acknowledge or a resolve: the only events worth looking the agent up for


def _event(row: DeliveryLog) -> tuple[uuid.UUID, WebhookEvent] | None:
    try:
        data = json.loads(row.summary)
        service_id = uuid.UUID(str(data["service"]))
        kind = WebhookKind(str(data["kind"]))
    except (ValueError, KeyError, TypeError):
        return None
    return service_id, WebhookEvent(
        id=str(data.get("id") or ""),
        kind=kind,
        event_type=str(data.get("event_type") or ""),
        incident_key=data.get("incident_key"),
        agent_id=data.get("agent_id"),
        agent_summary=str(data.get("agent") or "someone in PagerDuty"),
        pd_incident=str(data.get("pd_incident") or ""),
    )


async def pending_event(db: AsyncSession, row_id: uuid.UUID) -> Pending | None:
    """The event of an inbound row that has no outcome yet (None when handled, or not ours)."""
    row = await db.get(DeliveryLog, row_id, populate_existing=True)
    parsed = _event(row) if row is not None and row.status == "received" and row.channel == CHANNEL else None
    service = await db.get(PagerDutyService, parsed[0]) if parsed is not None else None
    await db.commit()
    if row is None or parsed is None:
        return None
    return Pending(
        row_id,
        parsed[0],
        parsed[1].agent_id,
        service.api_key_sealed if service is not None else None,
        parsed[1].kind is not WebhookKind.OTHER,
    )


async def handle_event(db: AsyncSession, row_id: uuid.UUID, agent_email: str | None, now: datetime.datetime) -> str:
    """Act on a recorded webhook: `agent_email` is the PagerDuty user's email when it was looked up.
    Returns (and records) what happened."""
    row = await db.get(DeliveryLog, row_id, populate_existing=True)
    if row is None or row.status != "received":
        await db.commit()
        return (row.error if row is not None else None) or "already handled"
    parsed = _event(row)
    await db.commit()
    if parsed is None:
        await finish_inbound(db, row_id, "ignored", "not a PagerDuty event Vigilo recorded")
        return "ignored"
    service_id, event = parsed
    service = await db.get(PagerDutyService, service_id)
    await db.commit()
    if service is None:
        await finish_inbound(db, row_id, "ignored", "the PagerDuty connection was deleted")
        return "ignored"
    if event.kind is WebhookKind.OTHER:
        text = f"{event.event_type or 'an event'} is not acted on"
        await finish_inbound(db, row_id, "ignored", text, service.workspace_id)
        return text
    incident = await db.get(Incident, event.incident_id) if event.incident_id is not None else None
    paged_here = (
        incident is not None
        and await db.scalar(
            select(Page.id).where(Page.incident_id == incident.id, Page.pagerduty_service_id == service.id).limit(1)
        )
        is not None
    )
    await db.commit()
    if incident is None or incident.workspace_id != service.workspace_id or not paged_here:
        # Only an incident this connection paged: another's ack must not be told back to its own service.
        text = f"the alert's key ({event.incident_key or 'none'}) names no incident this connection paged"
        await finish_inbound(db, row_id, "ignored", text, service.workspace_id)
        return text
    person = await _member_by_email(db, incident.workspace_id, agent_email)
    where = f" in PagerDuty ({service.label})"
    inbound = Inbound(row_id, f"PagerDuty {service.label}")
    if event.kind is WebhookKind.RESOLVED:
        by = person.display_name if person is not None else event.agent_summary
        closed = await close_incident(db, incident.id, by, now, came_from=service.id, where=where, inbound_row=row_id)
        return closed.text
    if incident.status != "triggered":
        # Most often our own acknowledge coming back: nothing to do, and nobody joins by it.
        text = f"INC-{incident.number} is already {incident.status}"
        await finish_inbound(db, row_id, "ignored", text, incident.workspace_id, incident.id)
        return text
    if person is not None:
        reply = await acknowledge(db, incident.id, person.id, Source.PAGERDUTY, now, inbound, came_from=service.id)
        return reply.text
    reply = await acknowledge_as_agent(db, incident.id, event.agent_summary, service.id, service.label, now, inbound)
    return reply.text


async def _member_by_email(db: AsyncSession, workspace_id: uuid.UUID, email: str | None) -> UserProfile | None:
    """The active member (role member or above) with this email, the PagerDuty user's."""
    if not email:
        return None
    user = await db.scalar(
        select(UserProfile)
        .join(Membership, Membership.user_id == UserProfile.id)
        .where(
            UserProfile.email == email.strip().lower(),
            Membership.workspace_id == workspace_id,
            Membership.is_active,
            Membership.role.in_(SLOT_ROLES),
        )
    )
    await db.commit()
    return user
