"""Shift reminders: each person's choice, and the reminder rows written ahead.

A periodic job writes, for every shift starting within the next hour plus the person's lead, one
delivery row per chosen channel, due at start minus lead (sent at once when the shift starts sooner). The
row's unique key makes it once per shift; its `shift_key` names the shift, and the sender checks it
again (app/services/deliveries.py), so a shift given away meanwhile is not reminded. Rows are swept
like every message."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence

from sqlalchemy import and_, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.models import DeliveryLog, Membership, OnCallSchedule, OnCallSlot, UserProfile
from app.db.transactions import writing
from app.domain.reminders import (
    LEADS,
    ReminderChoice,
    parse_reminder_choice,
    reminder_id,
    reminder_text,
    shift_key,
)
from app.services.deliveries import queue_delivery
from app.services.errors import FieldError
from app.services.schedules import SLOT_ROLES

PLAN_AHEAD = datetime.timedelta(hours=1)  # rows are written this long before they fall due


async def set_reminder_choice(
    db: AsyncSession, user_id: uuid.UUID, minutes: object, channels: Sequence[str] | None
) -> UserProfile:
    choice, errors = parse_reminder_choice(minutes, channels)
    if choice is None:
        raise FieldError(errors)
    async with writing(db):
        user = await db.get_one(UserProfile, user_id)
        if choice != choice_of(user):
            # Reminders planned under the old choice go, and the next planning writes them under the new
            # one: a shift is never reminded twice, nor after "off".
            # Never sent, so no history is lost; one already sent keeps its key, so none comes twice.
            await db.execute(
                delete(DeliveryLog).where(
                    DeliveryLog.shift_key.like(f"% {user.id} %"),
                    DeliveryLog.status.in_(["pending", "retrying", "skipped"]),
                    DeliveryLog.direction == "outbound",
                )
            )
        user.reminder_minutes, user.reminder_by_slack, user.reminder_by_sms = choice.minutes, choice.slack, choice.sms
    return user


def choice_of(user: UserProfile) -> ReminderChoice:
    return ReminderChoice(user.reminder_minutes, user.reminder_by_slack, user.reminder_by_sms)


async def plan_reminders(
    db: AsyncSession, now: datetime.datetime, seconds_per_minute: float
) -> list[tuple[uuid.UUID, datetime.datetime | None]]:
    """Write the reminder rows now due to be written; returns (row, when to send it) for each new one.

    One query finds every shift start within reach: a slot of a person with reminders on, on an active
    schedule of a workspace where they are an active member who holds slots, starting within their lead
    plus an hour, that no slot of theirs runs into (else it is the middle of a shift, not its start)."""
    longest = datetime.timedelta(seconds=max(LEADS) * seconds_per_minute) + PLAN_AHEAD
    before = aliased(OnCallSlot)
    async with writing(db):
        rows = (
            await db.execute(
                select(OnCallSlot.start_time, OnCallSchedule, UserProfile)
                .join(OnCallSchedule, OnCallSchedule.id == OnCallSlot.schedule_id)
                .join(UserProfile, UserProfile.id == OnCallSlot.user_id)
                .join(
                    Membership,
                    and_(
                        Membership.user_id == OnCallSlot.user_id, Membership.workspace_id == OnCallSchedule.workspace_id
                    ),
                )
                .where(
                    UserProfile.reminder_minutes > 0,
                    OnCallSchedule.is_active,
                    Membership.is_active,
                    Membership.role.in_(SLOT_ROLES),
                    OnCallSlot.start_time > now,
                    OnCallSlot.start_time <= now + longest,
                    ~exists().where(
                        before.schedule_id == OnCallSlot.schedule_id,
                        before.user_id == OnCallSlot.user_id,
                        before.end_time == OnCallSlot.start_time,
                    ),
                )
            )
        ).all()
        planned: list[tuple[DeliveryLog, datetime.datetime | None]] = []
        for start, schedule, user in rows:
            choice = choice_of(user)
            lead = datetime.timedelta(seconds=choice.minutes * seconds_per_minute)
            if start > now + lead + PLAN_AHEAD:
                continue  # not yet worth writing
            key = shift_key(schedule.id, user.id, start)
            for channel in choice.channels:
                planned += await _write(
                    db,
                    user,
                    schedule.workspace_id,
                    key,
                    channel,
                    choice.minutes,
                    start - lead,
                    now,
                    schedule.name,
                    start,
                    seconds_per_minute,
                )
    return [(row.id, at) for row, at in planned if row.status == "pending"]


async def _write(
    db: AsyncSession,
    user: UserProfile,
    workspace_id: uuid.UUID,
    key: str,
    channel: str,
    minutes: int,
    due: datetime.datetime,
    now: datetime.datetime,
    schedule_name: str,
    start: datetime.datetime,
    seconds_per_minute: float,
) -> list[tuple[DeliveryLog, datetime.datetime | None]]:
    external = reminder_id(key, channel)
    exists = await db.scalar(
        select(DeliveryLog.id).where(
            DeliveryLog.channel == channel, DeliveryLog.direction == "outbound", DeliveryLog.external_id == external
        )
    )
    if exists is not None:
        return []
    target = user.paging_slack_id if channel == "slack" else user.paging_phone
    at = due if due > now else None
    # A shift that reached the person inside their lead is reminded at once, with the time truly left.
    left = None if at is not None else (start - now).total_seconds() / seconds_per_minute
    row = queue_delivery(
        db,
        workspace_id=workspace_id,
        channel=channel,
        target=target,
        text=reminder_text(schedule_name, start, user.time_zone, minutes, now, left),
        # Stamped with when it falls due: the sweeper's clock (and "dropped after an hour") counts from there.
        now=at or now,
        missing=f"{user.display_name} has no verified {'Slack id' if channel == 'slack' else 'phone number'} for reminders",
        not_before=at,
    )
    row.external_id, row.shift_key = external, key
    return [(row, at)]
