"""Events API v2 events as delivery rows: written in the transaction that decides them (a step that
pages a PagerDuty service, an ack, a resolve, a test), sent afterwards by the delivery actor like every
message (invariant 8 and 9). A row's target is the connection's id; its summary the event as JSON
(never the routing key, which stays sealed on the connection until the send)."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, Page, PagerDutyService
from app.domain.pagerduty import TEST_PREFIX, Action, OutboundEvent, follow_up_event, test_events
from app.services.deliveries import queue_delivery

CHANNEL = "pagerduty"


def queue_event(
    db: AsyncSession,
    service: PagerDutyService,
    event: OutboundEvent,
    now: datetime.datetime,
    incident_id: uuid.UUID | None = None,
    page_id: uuid.UUID | None = None,
) -> DeliveryLog:
    return queue_delivery(
        db,
        workspace_id=service.workspace_id,
        channel=CHANNEL,
        target=str(service.id),
        text=event.to_json(),
        now=now,
        incident_id=incident_id,
        page_id=page_id,
    )


async def queue_follow_ups(
    db: AsyncSession,
    incident_id: uuid.UUID,
    action: Action,
    now: datetime.datetime,
    came_from: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """An acknowledge or resolve for every PagerDuty service the incident paged, except the one the
    change came from (no echo). Returns the rows to send after commit."""
    service_ids = set(
        await db.scalars(
            select(Page.pagerduty_service_id).where(
                Page.incident_id == incident_id, Page.pagerduty_service_id.is_not(None)
            )
        )
    )
    service_ids.discard(came_from)
    rows: list[uuid.UUID] = []
    for service_id in sorted(s for s in service_ids if s is not None):
        service = await db.get(PagerDutyService, service_id)
        if service is None:
            continue
        row = queue_event(db, service, follow_up_event(action, incident_id, service.label), now, incident_id)
        rows.append(row.id)
    return rows


def queue_test(db: AsyncSession, service: PagerDutyService, workspace_slug: str, now: datetime.datetime) -> uuid.UUID:
    """ "Send test event": a trigger now; its resolve is queued once the trigger is accepted."""
    nonce = uuid.uuid4().hex[:12]
    trigger, _ = test_events(f"vigilo-test-{nonce}", workspace_slug, service.label)
    row = queue_event(db, service, trigger, now)
    row.external_id = f"{TEST_PREFIX}{service.id.hex}:{nonce}:trigger"
    return row.id


async def last_test(db: AsyncSession, service_id: uuid.UUID) -> list[DeliveryLog]:
    """The latest test's rows (trigger, then resolve once queued)."""
    rows = list(
        await db.scalars(
            select(DeliveryLog)
            .where(
                DeliveryLog.external_id.like(f"{TEST_PREFIX}{service_id.hex}:%"), DeliveryLog.direction == "outbound"
            )
            .order_by(DeliveryLog.at.desc())
            .limit(2)
        )
    )
    if not rows or rows[0].external_id is None:
        return []
    newest = rows[0].external_id.rsplit(":", 1)[0]
    same = [row for row in rows if row.external_id and row.external_id.startswith(newest + ":")]
    return sorted(same, key=lambda row: 0 if (row.external_id or "").endswith(":trigger") else 1)
