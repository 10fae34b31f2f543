"""Inbound webhooks: each delivery recorded once (Slack event_id, Twilio MessageSid), and turned into
the same ack and decline calls the web button makes."""

from __future__ import annotations

import datetime
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, Incident, Membership, Page, UserProfile, Workspace
from app.db.transactions import writing
from app.domain.acks import SMS_HELP, Command, PendingReply, Source, choose_page, parse_sms, pending_list_text
from app.services.acks import Reply, acknowledge, decline

logger = logging.getLogger(__name__)
ACK_REACTION, DECLINE_REACTION = "white_check_mark", "x"


@dataclass(frozen=True)
class Received:
    row_id: uuid.UUID
    duplicate: bool
    earlier_outcome: str | None = None


async def record_inbound(
    db: AsyncSession, channel: str, external_id: str, summary: str, now: datetime.datetime
) -> Received:
    """Log a delivery once; a retry with the same id finds the first one and changes nothing."""
    try:
        async with writing(db):
            row = DeliveryLog(
                id=uuid.uuid4(),
                at=now,
                direction="inbound",
                channel=channel,
                target="",
                status="received",
                external_id=external_id[:64],
                summary=summary[:8000],
            )
            db.add(row)
            await db.flush()
            return Received(row.id, duplicate=False)
    except IntegrityError:
        earlier = await db.scalar(
            select(DeliveryLog).where(
                DeliveryLog.channel == channel,
                DeliveryLog.direction == "inbound",
                DeliveryLog.external_id == external_id[:64],
            )
        )
        await db.commit()
        return Received(earlier.id if earlier else uuid.uuid4(), True, earlier.error if earlier else None)


async def record_rejected(db: AsyncSession, channel: str, reason: str, now: datetime.datetime) -> None:
    """A webhook refused before it was read (bad signature): logged without its body."""
    async with writing(db):
        db.add(
            DeliveryLog(
                id=uuid.uuid4(),
                at=now,
                direction="inbound",
                channel=channel,
                target="",
                status="rejected",
                error=reason,
                summary="",
            )
        )


async def finish_inbound(
    db: AsyncSession,
    row_id: uuid.UUID,
    status: str,
    outcome: str,
    workspace_id: uuid.UUID | None = None,
    incident_id: uuid.UUID | None = None,
    target: str = "",
) -> None:
    async with writing(db):
        row = await db.get(DeliveryLog, row_id)
        if row is not None:
            row.status, row.error = status, outcome
            row.workspace_id, row.incident_id, row.target = workspace_id, incident_id, target[:120]


# ---------------------------------------------------------------- Slack


async def handle_slack_event(
    db: AsyncSession,
    row_id: uuid.UUID,
    bot_user_id: str | None,
    now: datetime.datetime,
    seconds_per_minute: float,
    public_url: str,
) -> str:
    """Act on a logged reaction_added event; returns (and records) what happened."""
    row = await db.get(DeliveryLog, row_id)
    if row is None:
        return "gone"
    if row.status != "received":
        await db.commit()
        return row.error or row.status  # handled by an earlier run of this message
    try:
        payload: dict[str, Any] = json.loads(row.summary)
    except ValueError:  # longer than the 8,000 characters kept: no reaction event is
        await db.commit()
        await finish_inbound(db, row_id, "ignored", "an event too large to be a reaction")
        return "ignored"
    await db.commit()
    event = payload.get("event")
    item = (event.get("item") or {}) if isinstance(event, dict) else None
    if not isinstance(event, dict) or not isinstance(item, dict):
        await finish_inbound(db, row_id, "ignored", "not a Slack event of the expected shape")
        return "ignored"
    reaction, slack_user = event.get("reaction"), event.get("user")
    if event.get("type") != "reaction_added" or item.get("type", "message") != "message":
        await finish_inbound(db, row_id, "ignored", f"not a reaction on a message ({event.get('type')})")
        return "ignored"
    if not all(isinstance(value, str) for value in (reaction, slack_user, item.get("channel"), item.get("ts"))):
        await finish_inbound(db, row_id, "ignored", "a reaction whose name, user, channel or ts is not text")
        return "ignored"
    if bot_user_id and slack_user == bot_user_id:
        await finish_inbound(db, row_id, "ignored", "the bot's own reaction")
        return "ignored"
    if reaction not in {ACK_REACTION, DECLINE_REACTION}:
        await finish_inbound(db, row_id, "ignored", f"reaction :{reaction}: means nothing here")
        return "ignored"
    incident = await db.scalar(
        select(Incident).where(Incident.slack_channel_id == item.get("channel"), Incident.slack_ts == item.get("ts"))
    )
    if incident is None:
        await finish_inbound(db, row_id, "ignored", "a reaction on a message that is not an incident post")
        return "ignored"
    user = await db.scalar(
        select(UserProfile)
        .join(Membership, Membership.user_id == UserProfile.id)
        .where(
            Membership.workspace_id == incident.workspace_id,
            UserProfile.slack_user_id == slack_user,
            UserProfile.slack_verified_at.is_not(None),
        )
    )
    await db.commit()
    if user is None:
        await finish_inbound(
            db,
            row_id,
            "ignored",
            f"Slack user {slack_user} is not a verified Slack identity of anyone in this workspace",
            incident.workspace_id,
            incident.id,
        )
        return "ignored"
    if reaction == ACK_REACTION:
        reply = await acknowledge(db, incident.id, user.id, Source.SLACK, now)
    else:
        reply = await decline(db, incident.id, user.id, Source.SLACK, now, seconds_per_minute, public_url)
        if not reply.changed:
            logger.info("ignored a decline of INC-%s by %s: no pending page of theirs", incident.number, user.email)
    await finish_inbound(
        db,
        row_id,
        "processed" if reply.changed else "ignored",
        reply.text,
        incident.workspace_id,
        incident.id,
        user.email,
    )
    return reply.text


# ---------------------------------------------------------------- SMS


async def handle_sms(
    db: AsyncSession,
    row_id: uuid.UUID,
    from_number: str,
    body: str,
    now: datetime.datetime,
    seconds_per_minute: float,
    public_url: str,
) -> str:
    """Act on an SMS reply; returns the text to answer with (also recorded on the log row)."""
    reply = await _sms_reply(db, from_number, body, now, seconds_per_minute, public_url)
    await finish_inbound(
        db,
        row_id,
        "processed" if reply.changed else "ignored",
        reply.text,
        target=from_number,
    )
    return reply.text


async def _sms_reply(
    db: AsyncSession, from_number: str, body: str, now: datetime.datetime, seconds_per_minute: float, public_url: str
) -> Reply:
    # Only a verified number identifies anyone, and a verified number belongs to one person.
    user = await db.scalar(
        select(UserProfile).where(UserProfile.phone == from_number, UserProfile.phone_verified_at.is_not(None))
    )
    if user is None:
        await db.commit()
        return Reply(f"Vigilo: this number is not verified on any account. {SMS_HELP}", False)
    rows = (
        await db.execute(
            select(Page, Incident, Workspace)
            .join(Incident, Incident.id == Page.incident_id)
            .join(Workspace, Workspace.id == Incident.workspace_id)
            .where(Page.user_id == user.id, Page.status == "pending")
            .order_by(Page.reply_code, Page.sent_at)
        )
    ).all()
    await db.commit()
    pending = [PendingReply(page.id, page.reply_code, inc.number, ws.name, inc.title) for page, inc, ws in rows]
    command = parse_sms(body)
    chosen = choose_page(command, pending) if command is not None else None
    if command is None or chosen is None:
        return Reply(pending_list_text(command, pending), False)
    _, incident, workspace = next(row for row in rows if row[0].id == chosen.page_id)
    if command.verb is Command.ACK:
        reply = await acknowledge(db, incident.id, user.id, Source.SMS, now)
    else:
        reply = await decline(db, incident.id, user.id, Source.SMS, now, seconds_per_minute, public_url)
    return Reply(f"Vigilo, {workspace.name}: {reply.text} ({incident.title[:80]})", reply.changed)
