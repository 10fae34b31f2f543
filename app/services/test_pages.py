"""A test page: an SMS and a Slack DM to a person that say they are a test, sent like any page
(delivery rows, swept, honest states), so a person can see that paging reaches them before 3 a.m."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, UserProfile
from app.db.transactions import writing
from app.domain.delivery_states import CHANNEL_NAMES, DeliveryState, delivery_state
from app.services import jobs
from app.services.deliveries import queue_delivery
from app.services.errors import FieldError

PREFIX = "test-page:"


async def send_test_page(
    db: AsyncSession, workspace_id: uuid.UUID, workspace_name: str, user_id: uuid.UUID, by: str, now: datetime.datetime
) -> list[uuid.UUID]:
    """Queue a test SMS and a test Slack DM to the person's verified contact points."""
    async with writing(db):
        user = await db.get_one(UserProfile, user_id)
        key = f"{PREFIX}{user.id.hex}:{uuid.uuid4().hex[:12]}"  # with ":slack", within external_id's 64
        text = (
            f"Vigilo {workspace_name}: this is a TEST page for {user.display_name}, sent by {by}. "
            "No incident; nothing to do."
        )
        rows = []
        for channel, target in (("sms", user.paging_phone), ("slack", user.paging_slack_id)):
            if target:
                row = queue_delivery(db, workspace_id=workspace_id, channel=channel, target=target, text=text, now=now)
                row.external_id = f"{key}:{channel}"
                rows.append(row)
        if not rows:
            raise FieldError.one(
                "test_page", f"{user.display_name} has no verified phone number or Slack identity to page."
            )
        ids = [row.id for row in rows]
    await jobs.deliver(ids)
    return ids


async def last_test_page(db: AsyncSession, user_id: uuid.UUID) -> list[tuple[str, DeliveryState, datetime.datetime]]:
    """The latest test page's messages and their states (channel name, state, when)."""
    rows = list(
        await db.scalars(
            select(DeliveryLog)
            .where(DeliveryLog.external_id.like(f"{PREFIX}{user_id.hex}:%"), DeliveryLog.direction == "outbound")
            .order_by(DeliveryLog.at.desc())
            .limit(4)
        )
    )
    await db.commit()
    if not rows:
        return []
    newest = rows[0].external_id.rsplit(":", 1)[0] if rows[0].external_id else ""
    return [
        (
            CHANNEL_NAMES.get(row.channel, row.channel),
            delivery_state(row.channel, row.status, row.provider_status, row.error),
            row.at,
        )
        for row in rows
        if row.external_id and row.external_id.startswith(newest)
    ]
