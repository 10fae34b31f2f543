"""The delivery sweeper on both databases: what a lost wake-up left behind is resent, given up on, or
marked unknown, and the incident's timeline says which."""

from __future__ import annotations

import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, TimelineEntry
from app.db.transactions import writing
from app.domain.roles import Role
from app.services.deliveries import queue_delivery, sweep_stalled
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.incidents import declare_incident
from tests.factories import fresh, make_paging_schedule, make_team

GRACE = datetime.timedelta(seconds=30)
SENDING_GRACE = datetime.timedelta(seconds=40)


async def test_sweeper_resends_gives_up_and_marks_unknown(db: AsyncSession) -> None:
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, 15)
    now = datetime.datetime.now(datetime.UTC)
    owner = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
    incident = await declare_incident(db, owner, "Disk full", "SEV2", schedule.id, now, 60, "http://x")
    later = now + datetime.timedelta(minutes=2)

    def row(number: int, status: str, at: datetime.datetime, retry_at: datetime.datetime | None = None) -> DeliveryLog:
        queued = queue_delivery(
            db,
            workspace_id=team.workspace.id,
            channel="sms",
            target=f"+1555000{number:04d}",
            text=status,
            now=at,
            incident_id=incident.id,
        )
        queued.status, queued.retry_at = status, retry_at
        return queued

    async with writing(db):
        for existing in await db.scalars(select(DeliveryLog)):
            existing.status = "sent"  # the trigger's own messages went out
        lost = row(1, "pending", later - datetime.timedelta(minutes=1))
        fresh_row = row(2, "pending", later - datetime.timedelta(seconds=5))
        due = row(3, "retrying", later - datetime.timedelta(minutes=1), retry_at=later - datetime.timedelta(minutes=1))
        waiting = row(4, "retrying", later, retry_at=later + datetime.timedelta(seconds=50))
        cut_off = row(5, "sending", later - datetime.timedelta(minutes=1))
        in_flight = row(6, "sending", later - datetime.timedelta(seconds=10))
        stale = row(7, "pending", later - datetime.timedelta(hours=2))
    ids = {name: r.id for name, r in locals().items() if isinstance(r, DeliveryLog)}

    resend = await sweep_stalled(db, later, GRACE, SENDING_GRACE)
    assert set(resend) == {ids["lost"], ids["due"]}
    session = await fresh(db)
    status = {r.id: r.status for r in await session.scalars(select(DeliveryLog))}
    assert status[ids["fresh_row"]] == "pending" and status[ids["waiting"]] == "retrying"
    assert status[ids["cut_off"]] == "unknown" and status[ids["in_flight"]] == "sending"
    assert status[ids["stale"]] == "failed"
    notes = [e.message for e in await session.scalars(select(TimelineEntry).order_by(TimelineEntry.id))]
    assert (
        "SMS to +15550000005 may not have arrived (the worker stopped mid-send); not resent, so nobody gets it twice."
        in notes
    )
    assert "SMS to +15550000007 was not sent within an hour; dropped rather than sent late." in notes
    # Until a worker sends them, a second sweep offers the same two again (sending twice is harmless:
    # the send locks the row and re-checks its status); the rows it settled stay settled.
    assert set(await sweep_stalled(db, later, GRACE, SENDING_GRACE)) == {ids["lost"], ids["due"]}
