"""Acknowledge and decline, for all three paths (Slack reaction, SMS reply, web button).

Each call locks the incident, asks app/domain/acks.py, writes the responder, page states and the
timeline, and queues the confirmation in the incident post's thread, all in one transaction. An
inbound SMS or Slack event that asked for it is marked handled in that same transaction (DESIGN.md
invariant 10): either both happen or neither, and then the provider's retry or the sweeper handles
it again. Cancelling a page is a state change: its delayed wake-up will find nothing to do.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, Incident, IncidentResponder, Membership, Page, UserProfile, Workspace
from app.db.transactions import lock_row, writing
from app.domain.acks import AckOutcome, Source, decide_ack
from app.domain.escalation import Event, Move, PageStatus, target_label
from app.domain.pagerduty import Action
from app.services.pagerduty_events import queue_follow_ups
from app.services.paging import Outbox, Pace, advance, chain_of, queue_channel_note
from app.services.schedules import SLOT_ROLES
from app.services.timeline import note as note_timeline


@dataclass(frozen=True)
class Reply:
    """What happened, in words for the person (SMS reply, flash message)."""

    text: str
    changed: bool


@dataclass(frozen=True)
class Inbound:
    """The inbound SMS or Slack event an ack or decline answers: its log row gets the outcome in the
    same transaction. `wording` turns the reply into what the person is told ("{}" is the reply)."""

    row_id: uuid.UUID
    target: str
    wording: str = "{}"


async def _claim_inbound(db: AsyncSession, inbound: Inbound | None) -> Reply | None:
    """Lock the inbound row; when an earlier run already handled it, its outcome (nothing is redone)."""
    if inbound is None:
        return None
    await lock_row(db, DeliveryLog, inbound.row_id)
    row = await db.get(DeliveryLog, inbound.row_id, populate_existing=True)
    if row is not None and row.status != "received":
        return Reply(row.error or row.status, False)
    return None


async def _settle(db: AsyncSession, inbound: Inbound | None, reply: Reply, incident: Incident) -> Reply:
    if inbound is None:
        return reply
    worded = Reply(inbound.wording.format(reply.text), reply.changed)
    row = await db.get(DeliveryLog, inbound.row_id)
    if row is not None:
        row.status, row.error = ("processed" if reply.changed else "ignored"), worded.text
        row.workspace_id, row.incident_id, row.target = incident.workspace_id, incident.id, inbound.target[:120]
    return worded


async def _eligible(db: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return (
        await db.scalar(
            select(Membership.id).where(
                Membership.workspace_id == workspace_id,
                Membership.user_id == user_id,
                Membership.is_active,
                Membership.role.in_(SLOT_ROLES),
            )
        )
    ) is not None


async def acknowledge(
    db: AsyncSession,
    incident_id: uuid.UUID,
    user_id: uuid.UUID,
    source: Source,
    now: datetime.datetime,
    inbound: Inbound | None = None,
    came_from: uuid.UUID | None = None,
) -> Reply:
    """Claim the incident for `user_id`: a responder row, the incident acknowledged, pages stopped,
    and every PagerDuty service it paged told (except `came_from`, the one the ack came from)."""
    outbox: Outbox | None = None
    async with writing(db):
        earlier = await _claim_inbound(db, inbound)
        if earlier is not None:
            return earlier
        await lock_row(db, Incident, incident_id)
        incident = await db.get_one(Incident, incident_id, populate_existing=True)
        reply, outbox = await _acknowledge(db, incident, user_id, source, now, came_from)
        reply = await _settle(db, inbound, reply, incident)
    if outbox is not None:
        await outbox.send(now)
    return reply


async def _acknowledge(
    db: AsyncSession,
    incident: Incident,
    user_id: uuid.UUID,
    source: Source,
    now: datetime.datetime,
    came_from: uuid.UUID | None,
) -> tuple[Reply, Outbox | None]:
    user = await db.get_one(UserProfile, user_id)
    responders = set(
        await db.scalars(select(IncidentResponder.user_id).where(IncidentResponder.incident_id == incident.id))
    )
    outcome = decide_ack(incident.status, responders, user.id, await _eligible(db, incident.workspace_id, user.id))
    label = f"INC-{incident.number}"
    if outcome is AckOutcome.NOT_ALLOWED:
        return Reply(f"You cannot acknowledge {label}: only active members with role member or above can.", False), None
    if outcome is AckOutcome.RESOLVED:
        return Reply(f"{label} is already resolved.", False), None
    if outcome is AckOutcome.ALREADY:
        first = await _first_responder(db, incident.id)
        by = "you" if first is None or first.id == user.id else first.display_name
        return Reply(f"{label} was already acknowledged by {by}.", False), None
    db.add(
        IncidentResponder(
            id=uuid.uuid4(),
            incident_id=incident.id,
            user_id=user.id,
            role="responder",
            joined_at=now,
            source=source.value,
        )
    )
    if outcome is AckOutcome.ACKNOWLEDGED:
        incident.status, incident.acknowledged_at = "acknowledged", now
        incident.escalation_due_at = None  # an ack by anyone stops the chain
    pending = list(await db.scalars(select(Page).where(Page.incident_id == incident.id, Page.status == "pending")))
    for page in pending:
        answered = page.user_id == user.id or (came_from is not None and page.pagerduty_service_id == came_from)
        page.status = "acknowledged" if answered else "cancelled"
    message = f"{user.display_name} acknowledged {label} via {source.label}."
    if outcome is AckOutcome.JOINED:
        message = f"{user.display_name} joined {label} as a responder via {source.label}."
    if pending:
        message += f" {len(pending)} pending page{'s' if len(pending) > 1 else ''} stopped."
    note_timeline(
        db, incident.id, "acknowledged" if outcome is AckOutcome.ACKNOWLEDGED else "responder_joined", message, now
    )
    workspace = await db.get_one(Workspace, incident.workspace_id)
    outbox = Outbox(queue_channel_note(db, workspace, incident, message, now), [])
    if outcome is AckOutcome.ACKNOWLEDGED:
        outbox.deliveries += await queue_follow_ups(db, incident.id, Action.ACKNOWLEDGE, now, came_from)
    return Reply(f"Acknowledged {label}." if outcome is AckOutcome.ACKNOWLEDGED else message, True), outbox


async def acknowledge_as_agent(
    db: AsyncSession,
    incident_id: uuid.UUID,
    agent: str,
    service_id: uuid.UUID,
    service_label: str,
    now: datetime.datetime,
    inbound: Inbound,
) -> Reply:
    """PagerDuty says someone who is no person of this workspace acknowledged: the incident is
    acknowledged (the chain stops) and the timeline names them; no responder row, no echo."""
    outbox: Outbox | None = None
    async with writing(db):
        earlier = await _claim_inbound(db, inbound)
        if earlier is not None:
            return earlier
        await lock_row(db, Incident, incident_id)
        incident = await db.get_one(Incident, incident_id, populate_existing=True)
        label = f"INC-{incident.number}"
        if incident.status != "triggered":
            reply = Reply(f"{label} is already {incident.status}.", False)
        else:
            incident.status, incident.acknowledged_at = "acknowledged", now
            incident.escalation_due_at = None
            pending = list(
                await db.scalars(select(Page).where(Page.incident_id == incident.id, Page.status == "pending"))
            )
            for page in pending:
                page.status = "acknowledged" if page.pagerduty_service_id == service_id else "cancelled"
            message = (
                f"{agent} acknowledged {label} in PagerDuty ({service_label}); "
                "no member of this workspace who may acknowledge has their email, so no responder is recorded."
            )
            if pending:
                message += f" {len(pending)} pending page{'s' if len(pending) > 1 else ''} stopped."
            note_timeline(db, incident.id, "acknowledged", message, now)
            workspace = await db.get_one(Workspace, incident.workspace_id)
            outbox = Outbox(queue_channel_note(db, workspace, incident, message, now), [])
            outbox.deliveries += await queue_follow_ups(db, incident.id, Action.ACKNOWLEDGE, now, service_id)
            reply = Reply(f"Acknowledged {label}.", True)
        reply = await _settle(db, inbound, reply, incident)
    if outbox is not None:
        await outbox.send(now)
    return reply


async def _first_responder(db: AsyncSession, incident_id: uuid.UUID) -> UserProfile | None:
    return await db.scalar(
        select(UserProfile)
        .join(IncidentResponder, IncidentResponder.user_id == UserProfile.id)
        .where(IncidentResponder.incident_id == incident_id)
        .order_by(IncidentResponder.joined_at)
        .limit(1)
    )


async def decline(
    db: AsyncSession,
    incident_id: uuid.UUID,
    user_id: uuid.UUID,
    source: Source,
    now: datetime.datetime,
    seconds_per_minute: float,
    public_url: str,
    inbound: Inbound | None = None,
    page_id: uuid.UUID | None = None,
    secret_key: str | None = None,
) -> Reply:
    """Pass the page on: only the person whose page is pending can; once everyone of the current step
    has declined, the next step is paged at once. `page_id` names the page (an SMS reply code does);
    without it, the person's page in the chain is meant before one as an added responder."""
    outbox: Outbox | None = None
    async with writing(db):
        earlier = await _claim_inbound(db, inbound)
        if earlier is not None:
            return earlier
        await lock_row(db, Incident, incident_id)
        incident = await db.get_one(Incident, incident_id, populate_existing=True)
        reply, outbox = await _decline(
            db, incident, user_id, now, Pace(seconds_per_minute, public_url, secret_key), page_id
        )
        reply = await _settle(db, inbound, reply, incident)
    if outbox is not None:
        await outbox.send(now)
    return reply


async def _decline(
    db: AsyncSession,
    incident: Incident,
    user_id: uuid.UUID,
    now: datetime.datetime,
    pace: Pace,
    page_id: uuid.UUID | None,
) -> tuple[Reply, Outbox | None]:
    user = await db.get_one(UserProfile, user_id)
    label = f"INC-{incident.number}"
    mine = select(Page).where(
        Page.incident_id == incident.id, Page.user_id == user.id, Page.status == PageStatus.PENDING
    )
    if page_id is not None:
        mine = mine.where(Page.id == page_id)
    # The chain's page first (its step is set), then one as an added responder.
    page = await db.scalar(mine.order_by(Page.step.is_(None), Page.sent_at).limit(1))
    # An added responder may say no while the incident is open; a chain page only while it runs.
    if page is None or incident.status == "resolved" or (page.step is not None and incident.status != "triggered"):
        return Reply(f"You have no pending page for {label}, so there is nothing to decline.", False), None
    page.status = PageStatus.DECLINED.value
    await db.flush()
    workspace = await db.get_one(Workspace, incident.workspace_id)
    if page.step is None:  # an added responder says no: the chain is not theirs to move
        message = f"{user.display_name} declined to join {label}."
        note_timeline(db, incident.id, "declined", message, now)
        return Reply(f"Declined {label}.", True), Outbox(queue_channel_note(db, workspace, incident, message, now), [])
    message = f"{user.display_name} declined {label}."
    note_timeline(db, incident.id, "declined", message, now)
    outbox = Outbox(queue_channel_note(db, workspace, incident, message, now), [])
    move, more = await advance(db, workspace, incident, Event.DECLINED, now, pace)
    outbox.add(more)
    if move is Move.PAGE and incident.chain_step is not None:
        chain = chain_of(incident)
        step = chain.steps[incident.chain_step]
        who = " and ".join(target_label(t) for t in step.targets)
        return Reply(
            f"Declined {label}; paging step {incident.chain_step + 1} of {len(chain.steps)}: {who}.", True
        ), outbox
    if move is Move.EXHAUSTED:
        return Reply(f"Declined {label}; nobody is left to page.", True), outbox
    return Reply(f"Declined {label}; the others paged with you still can answer.", True), outbox
