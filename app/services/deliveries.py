"""Outbound messages as delivery-log rows: queued in the transaction that decides them, sent one by
one afterwards, and resent only when the send provably failed (DESIGN.md invariant 8)."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog
from app.db.transactions import lock_row, writing
from app.integrations.slack import Outcome, SendResult

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Outgoing:
    """What a delivery row asks to send."""

    id: uuid.UUID
    channel: str  # slack (a DM), slack_post (the incident channel), sms
    target: str
    text: str
    incident_id: uuid.UUID | None


def queue_delivery(
    db: AsyncSession,
    *,
    workspace_id: uuid.UUID | None,
    channel: str,
    target: str | None,
    text: str,
    now: datetime.datetime,
    incident_id: uuid.UUID | None = None,
    page_id: uuid.UUID | None = None,
    missing: str | None = None,
) -> DeliveryLog:
    """Add a pending row (or a "skipped" one saying `missing` when there is no target)."""
    row = DeliveryLog(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        at=now,
        direction="outbound",
        channel=channel,
        target=target or "",
        status="pending" if target else "skipped",
        error=None if target else missing,
        summary=text,
        incident_id=incident_id,
        page_id=page_id,
    )
    db.add(row)
    return row


@dataclass(frozen=True)
class Attempt:
    """What the actor should do next with a delivery row."""

    done: bool
    result: SendResult | None = None
    retry_in: float | None = None
    outgoing: Outgoing | None = None


async def send_logged(
    db: AsyncSession,
    log_id: uuid.UUID,
    send: Callable[[Outgoing], Awaitable[SendResult]],
    now: datetime.datetime,
) -> Attempt:
    """Send one pending row and record the outcome; only a provable failure asks for a retry."""
    async with writing(db):
        await lock_row(db, DeliveryLog, log_id)
        row = await db.get(DeliveryLog, log_id, populate_existing=True)
        if row is None or row.status not in {"pending", "retrying"}:
            return Attempt(done=True)  # sent, or given up on, by an earlier run of this message
        row.attempts += 1
        row.status = "sending"  # in flight: a crash now leaves it visible, never resent blindly
        outgoing = Outgoing(row.id, row.channel, row.target, row.summary, row.incident_id)
    result = await send(outgoing)
    async with writing(db):
        row = await db.get(DeliveryLog, log_id, populate_existing=True)
        assert row is not None
        row.at = now
        row.error = result.error
        if result.outcome is Outcome.SENT:
            row.status = "sent"
            return Attempt(done=True, result=result, outgoing=outgoing)
        if result.outcome is Outcome.TEMPORARY and row.attempts < MAX_ATTEMPTS:
            row.status = "retrying"
            return Attempt(done=False, result=result, retry_in=result.retry_after or float(2**row.attempts))
        row.status = "unknown" if result.outcome is Outcome.UNKNOWN else "failed"
        return Attempt(done=True, result=result, outgoing=outgoing)


async def recent_deliveries(db: AsyncSession, workspace_id: uuid.UUID, limit: int = 50) -> list[DeliveryLog]:
    """The newest delivery-log rows of a workspace (Settings → Integrations)."""
    rows = await db.scalars(
        select(DeliveryLog).where(DeliveryLog.workspace_id == workspace_id).order_by(DeliveryLog.at.desc()).limit(limit)
    )
    return list(rows)
