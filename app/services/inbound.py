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
from app.db.transactions import lock_row, writing
from app.domain.acks import (
    ACK_REACTION,
    DECLINE_REACTION,
    SMS_HELP,
    Command,
    PendingReply,
    Source,
    choose_page,
    parse_sms,
    pending_list_text,
)
from app.domain.voice import KeyAnswer, nothing_pressed_note, read_answer
from app.metrics import INBOUND
from app.services.acks import Inbound, acknowledge, decline
from app.services.deliveries import queue_delivery
from app.services.timeline import note as timeline_note

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    row_id: uuid.UUID
    duplicate: bool
    earlier_outcome: str | None = None  # set once an earlier delivery was handled

    @property
    def handled(self) -> bool:
        """A retry of a delivery that already has an outcome: answer with it, do nothing again. A
        retry whose first delivery has none (its handling failed) is handled now."""
        return self.duplicate and self.earlier_outcome is not None


async def record_inbound(
    db: AsyncSession, channel: str, external_id: str, summary: str, now: datetime.datetime
) -> Received:
    """Log a delivery once; a retry with the same id finds the first one (and its outcome, if any)."""
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
            received = Received(row.id, duplicate=False)  # read before the commit expires the row
    except IntegrityError:
        INBOUND.labels(channel, "duplicate").inc()
        earlier = await db.scalar(
            select(DeliveryLog).where(
                DeliveryLog.channel == channel,
                DeliveryLog.direction == "inbound",
                DeliveryLog.external_id == external_id[:64],
            )
        )
        await db.commit()
        if earlier is None:  # cannot be: the unique index said it exists
            return Received(uuid.uuid4(), True, "already handled")
        outcome = earlier.error or earlier.status if earlier.status != "received" else None
        return Received(earlier.id, True, outcome)
    INBOUND.labels(channel, "received").inc()
    return received


async def record_rejected(
    db: AsyncSession, channel: str, reason: str, now: datetime.datetime, workspace_id: uuid.UUID | None = None
) -> None:
    """A webhook refused before it was read (bad signature): logged without its body (in the
    workspace's delivery log when its URL names one)."""
    async with writing(db):
        db.add(
            DeliveryLog(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                at=now,
                direction="inbound",
                channel=channel,
                target="",
                status="rejected",
                error=reason,
                summary="",
            )
        )
    INBOUND.labels(channel, "rejected").inc()


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
        # Locked and re-checked: a second handling (the sweeper and a late wake-up) never overwrites
        # the outcome the first one recorded.
        await lock_row(db, DeliveryLog, row_id)
        row = await db.get(DeliveryLog, row_id, populate_existing=True)
        if row is not None and row.status == "received":
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
    secret_key: str | None = None,
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
    inbound = Inbound(row_id, user.email)
    if reaction == ACK_REACTION:
        reply = await acknowledge(db, incident.id, user.id, Source.SLACK, now, inbound)
    else:
        reply = await decline(
            db, incident.id, user.id, Source.SLACK, now, seconds_per_minute, public_url, inbound, secret_key=secret_key
        )
        if not reply.changed:
            logger.info("ignored a decline of INC-%s by %s: no pending page of theirs", incident.number, user.email)
    return reply.text


# ---------------------------------------------------------------- SMS


async def handle_sms(
    db: AsyncSession,
    row_id: uuid.UUID,
    now: datetime.datetime,
    seconds_per_minute: float,
    public_url: str,
    secret_key: str | None = None,
) -> str:
    """Act on a recorded SMS reply; returns the text to answer with (also recorded on the log row).
    A row an earlier run already handled gets that run's answer and changes nothing."""
    row = await db.get(DeliveryLog, row_id, populate_existing=True)
    await db.commit()
    if row is None:
        return "Vigilo: this message is gone."
    if row.status != "received":
        return row.error or SMS_HELP
    from_number, body = sms_fields(row.summary)
    user = await db.scalar(
        select(UserProfile).where(UserProfile.phone == from_number, UserProfile.phone_verified_at.is_not(None))
    )
    if user is None:
        await db.commit()
        text = f"Vigilo: this number is not verified on any account. {SMS_HELP}"
        await finish_inbound(db, row_id, "ignored", text, target=from_number)
        return text
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
        text = pending_list_text(command, pending)
        await finish_inbound(db, row_id, "ignored", text, target=from_number)
        return text
    _, incident, workspace = next(row for row in rows if row[0].id == chosen.page_id)
    # The outcome is written with the ack or decline itself, worded as the person is told it.
    inbound = Inbound(row_id, from_number, f"Vigilo, {workspace.name}: {{}} ({incident.title[:80]})")
    if command.verb is Command.ACK:
        reply = await acknowledge(db, incident.id, user.id, Source.SMS, now, inbound)
    else:
        reply = await decline(
            db,
            incident.id,
            user.id,
            Source.SMS,
            now,
            seconds_per_minute,
            public_url,
            inbound,
            chosen.page_id,
            secret_key=secret_key,
        )
    return reply.text


def sms_summary(from_number: str, body: str) -> str:
    """What an inbound SMS row keeps: sender and words, enough to handle it again later."""
    return json.dumps({"from": from_number[:64], "body": body[:1600]})


def sms_fields(summary: str) -> tuple[str, str]:
    """(From, Body) of an inbound SMS row."""
    try:
        data = json.loads(summary)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return str(data.get("from", "")), str(data.get("body", ""))
    sender, _, body = summary.partition(": ")  # rows written before the JSON form
    return sender, body


async def handle_stalled_sms(
    db: AsyncSession,
    row_id: uuid.UUID,
    now: datetime.datetime,
    seconds_per_minute: float,
    public_url: str,
    secret_key: str | None = None,
) -> uuid.UUID | None:
    """Handle an SMS whose webhook never got an outcome (the sweeper found it). Its answer never
    reached the sender, so it goes out as an SMS of its own: returns that delivery row to send, or
    None when an earlier run had handled it."""
    row = await db.get(DeliveryLog, row_id, populate_existing=True)
    await db.commit()
    if row is None or row.status != "received":
        return None
    text = await handle_sms(db, row_id, now, seconds_per_minute, public_url, secret_key)
    from_number, _ = sms_fields(row.summary)
    if not from_number:
        return None
    try:
        async with writing(db):
            reply = queue_delivery(
                db, workspace_id=row.workspace_id, channel="sms", target=from_number, text=text, now=now
            )
            reply.external_id = f"sms-reply:{row_id}"  # unique: a second run queues no second answer
            await db.flush()
            return reply.id
    except IntegrityError:
        return None


# ---------------------------------------------------------------- voice


def voice_summary(call_id: str, digits: str, answered_by: str) -> str:
    """What an inbound key-press row keeps: which call (our delivery row), the key, who answered."""
    return json.dumps({"call": call_id[:64], "digits": digits[:8], "answered_by": answered_by[:32]})


async def handle_voice(
    db: AsyncSession,
    row_id: uuid.UUID,
    now: datetime.datetime,
    seconds_per_minute: float,
    public_url: str,
    secret_key: str | None = None,
) -> str:
    """Act on the key pressed on a call (1 acknowledges, 2 declines, through the same code as every
    other path); returns what the call says back. No key, another key or voicemail changes nothing:
    the timeline says which, and the chain goes on at its deadline."""
    row = await db.get(DeliveryLog, row_id, populate_existing=True)
    await db.commit()
    if row is None:
        return "Goodbye."
    if row.status != "received":
        return row.error or "Goodbye."
    try:
        data = json.loads(row.summary)
        call_id = uuid.UUID(str(data.get("call", "")))
    except (ValueError, AttributeError):
        data, call_id = {}, None
    call = await db.get(DeliveryLog, call_id) if call_id else None
    page = await db.get(Page, call.page_id) if call is not None and call.page_id else None
    incident = await db.get(Incident, page.incident_id) if page is not None else None
    user = await db.get(UserProfile, page.user_id) if page is not None and page.user_id else None
    await db.commit()
    if (
        call is None
        or call.channel != "voice"
        or call.direction != "outbound"
        or page is None
        or incident is None
        or user is None
    ):
        text = "This call is not known to Vigilo. Goodbye."
        await finish_inbound(db, row_id, "ignored", text)
        return text
    answer = read_answer(str(data.get("digits", "")), str(data.get("answered_by", "")))
    inbound = Inbound(row_id, call.target)
    if answer is KeyAnswer.ACK:
        return (await acknowledge(db, incident.id, user.id, Source.VOICE, now, inbound)).text
    if answer is KeyAnswer.DECLINE:
        reply = await decline(
            db,
            incident.id,
            user.id,
            Source.VOICE,
            now,
            seconds_per_minute,
            public_url,
            inbound,
            page.id,
            secret_key=secret_key,
        )
        return reply.text
    note = nothing_pressed_note(user.display_name, incident.number, answer, str(data.get("digits", "")))
    async with writing(db):
        await lock_row(db, DeliveryLog, row_id)
        fresh = await db.get(DeliveryLog, row_id, populate_existing=True)
        if fresh is None or fresh.status != "received":
            return (fresh.error if fresh else None) or "Goodbye."
        timeline_note(db, incident.id, "call_unanswered", note, now)
        fresh.status, fresh.error = "ignored", "Nothing was changed. Goodbye."
        fresh.workspace_id, fresh.incident_id, fresh.target = incident.workspace_id, incident.id, call.target[:120]
    return "Nothing was changed. Goodbye."
