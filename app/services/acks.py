"""Acknowledge and decline, for all three paths (Slack reaction, SMS reply, web button).

Each call locks the incident, asks app/domain/acks.py, writes the responder, page states and the
timeline, and queues the confirmation in the incident post's thread, all in one transaction.
Cancelling a page is a state change: its delayed wake-up will find nothing to do.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Incident, IncidentResponder, Membership, Page, UserProfile, Workspace
from app.db.transactions import lock_row, writing
from app.domain.acks import AckOutcome, DeclineOutcome, PendingPage, Source, decide_ack, decide_decline
from app.domain.paging import decide_escalation
from app.services.incidents import Outbox, carry_out, note_timeline, person_of, queue_channel_note
from app.services.schedules import SLOT_ROLES


@dataclass(frozen=True)
class Reply:
    """What happened, in words for the person (SMS reply, flash message)."""

    text: str
    changed: bool


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
    db: AsyncSession, incident_id: uuid.UUID, user_id: uuid.UUID, source: Source, now: datetime.datetime
) -> Reply:
    """Claim the incident for `user_id`: a responder row, the incident acknowledged, pages stopped."""
    async with writing(db):
        await lock_row(db, Incident, incident_id)
        incident = await db.get_one(Incident, incident_id, populate_existing=True)
        user = await db.get_one(UserProfile, user_id)
        responders = set(
            await db.scalars(select(IncidentResponder.user_id).where(IncidentResponder.incident_id == incident.id))
        )
        outcome = decide_ack(incident.status, responders, user.id, await _eligible(db, incident.workspace_id, user.id))
        label = f"INC-{incident.number}"
        if outcome is AckOutcome.NOT_ALLOWED:
            return Reply(f"You cannot acknowledge {label}: only active members with role member or above can.", False)
        if outcome is AckOutcome.RESOLVED:
            return Reply(f"{label} is already resolved.", False)
        if outcome is AckOutcome.ALREADY:
            first = await _first_responder(db, incident.id)
            by = "you" if first is None or first.id == user.id else first.display_name
            return Reply(f"{label} was already acknowledged by {by}.", False)
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
        pending = list(await db.scalars(select(Page).where(Page.incident_id == incident.id, Page.status == "pending")))
        for page in pending:
            page.status = "acknowledged" if page.user_id == user.id else "cancelled"
        message = f"{user.display_name} acknowledged {label} via {source.label}."
        if outcome is AckOutcome.JOINED:
            message = f"{user.display_name} joined {label} as a responder via {source.label}."
        if pending:
            message += f" {len(pending)} pending page{'s' if len(pending) > 1 else ''} stopped."
        note_timeline(
            db, incident, "acknowledged" if outcome is AckOutcome.ACKNOWLEDGED else "responder_joined", message, now
        )
        workspace = await db.get_one(Workspace, incident.workspace_id)
        outbox = Outbox(queue_channel_note(db, workspace, incident, message, now), [])
    await outbox.send(now)
    return Reply(f"Acknowledged {label}." if outcome is AckOutcome.ACKNOWLEDGED else message, True)


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
) -> Reply:
    """Pass the incident on: only the person whose page is pending can; the backup is paged at once."""
    async with writing(db):
        await lock_row(db, Incident, incident_id)
        incident = await db.get_one(Incident, incident_id, populate_existing=True)
        user = await db.get_one(UserProfile, user_id)
        pages = list(await db.scalars(select(Page).where(Page.incident_id == incident.id, Page.status == "pending")))
        outcome, mine = decide_decline([PendingPage(p.id, p.user_id, p.step) for p in pages], user.id)
        label = f"INC-{incident.number}"
        if outcome is DeclineOutcome.IGNORED or mine is None or incident.status != "triggered":
            return Reply(f"You have no pending page for {label}, so there is nothing to decline.", False)
        page = next(p for p in pages if p.id == mine.id)
        page.status = "declined"
        workspace = await db.get_one(Workspace, incident.workspace_id)
        backup = await person_of(db, workspace.id, page.backup_user_id) if page.step == 0 else None
        decision = decide_escalation(
            "pending",
            page.step,
            None,
            incident.status,
            page.user_id,
            backup,
            now,
            declined_by=f"{user.display_name} declined {label}",
        )
        if outcome is DeclineOutcome.NOBODY_CLAIMED:
            note_timeline(db, incident, "nobody_claimed", decision.message, now)
            outbox = Outbox(queue_channel_note(db, workspace, incident, decision.message, now), [])
        else:
            note_timeline(db, incident, "declined", decision.message, now)
            outbox = await carry_out(
                db, page, incident, workspace, decision, backup, now, seconds_per_minute, public_url, noted=True
            )
    await outbox.send(now)
    return Reply(
        f"Declined {label}; the backup is paged." if outcome is DeclineOutcome.PAGE_BACKUP else f"Declined {label}.",
        True,
    )
